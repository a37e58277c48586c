/*
 * keys.c - the key material of an archive (keys/) and what is done with it.
 *
 * keys/ holds, each file mode 0600:
 *
 *	signing-N.pem	Ed25519 private key of generation N (PKCS#8 PEM):
 *			signs message records and ledger checkpoints
 *	data-N.key	32 random bytes, the AES-256-GCM key of generation N:
 *			encrypts content blobs
 *	record-DAY.key	32 random bytes that encrypt the records of every
 *			message kept until DAY (YYYY-MM-DD, UTC), or
 *			record-forever.key for messages kept indefinitely.
 *			Destroying the file when DAY has passed makes those
 *			records unreadable for good (crypto-shredding).
 *
 * Generations count from 1 without gaps; the highest one present is the
 * current one, used for new blobs and signatures, while older ones stay
 * for reading and verifying.  "mailkeep keys rotate" adds generation N+1.
 * The public half of every signing key is also written in the ledger
 * (events "created" and "keys_rotated"), so a replaced key file is found
 * by verify.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "archive/fsutil.h"
#include "archive/internal.h"

/* One cached record key. */
struct record_key {
	char name[KEYS_NAME_MAX];
	unsigned char key[KEYS_AES];
	struct record_key *next;
};

/* key_path - "DIR/keys/NAME" into a new string */
static char *
key_path(const char *dir, const char *name)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "keys/%s", name);
	return path_join(dir, rel);
}

/* write_key_file - create keys/name (0600) with buf, durably */
static int
write_key_file(const char *dir, const char *name, const void *buf,
	       size_t len, mk_error *err)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "keys/%s", name);
	return write_new_file(dir, rel, buf, len, true, err);
}

/* read_key_file - read exactly KEYS_AES bytes of keys/name; 0, or -1 with
 * errno ENOENT when there is no such file */
static int
read_key_file(const char *dir, const char *name, unsigned char key[KEYS_AES],
	      mk_error *err)
{
	char *path = key_path(dir, name);
	ssize_t n = -1;
	int fd, saved;

	if (path == NULL)
		return mk_error_set(err, "out of memory");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, key, KEYS_AES);
		close(fd);
	}
	saved = errno;
	if (fd < 0)
		mk_error_errno(err, "open %s", path);
	else if (n != KEYS_AES)
		mk_error_set(err, "%s: not a %d-byte key", path, KEYS_AES);
	free(path);
	errno = fd < 0 ? saved : EINVAL;
	return n == KEYS_AES ? 0 : -1;
}

/* load_signing - read keys/signing-N.pem; NULL with errno ENOENT if absent */
static EVP_PKEY *
load_signing(const char *dir, unsigned gen, mk_error *err)
{
	char name[KEYS_NAME_MAX];
	char *path;
	EVP_PKEY *key = NULL;
	FILE *fp;

	snprintf(name, sizeof(name), "signing-%u.pem", gen);
	if ((path = key_path(dir, name)) == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		int saved = errno;

		mk_error_errno(err, "open %s", path);
		errno = saved;
	} else {
		key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
		fclose(fp);
		if (key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
			mk_error_set(err, "%s: not an Ed25519 private key", path);
			EVP_PKEY_free(key);
			key = NULL;
			errno = EINVAL;
		}
	}
	free(path);
	return key;
}

/* keyring_add - grow kr by one generation holding sk and data */
static int
keyring_add(keyring *kr, EVP_PKEY *sk, const unsigned char data[KEYS_AES],
	    mk_error *err)
{
	keyring_gen *grown = realloc(kr->gens, (kr->n + 1) * sizeof(*grown));

	if (grown == NULL)
		return mk_error_set(err, "out of memory");
	kr->gens = grown;
	grown[kr->n].signing = sk;
	memcpy(grown[kr->n].data, data, KEYS_AES);
	kr->n++;
	return 0;
}

/* keyring_load - every generation in dir/keys; an archive has at least one */
int
keyring_load(keyring *kr, const char *dir, mk_error *err)
{
	unsigned char data[KEYS_AES];
	char name[KEYS_NAME_MAX];
	EVP_PKEY *sk;
	unsigned gen;

	memset(kr, 0, sizeof(*kr));
	pthread_mutex_init(&kr->lock, NULL);
	if ((kr->dir = strdup(dir)) == NULL)
		return mk_error_set(err, "out of memory");
	for (gen = 1;; gen++) {
		if ((sk = load_signing(dir, gen, err)) == NULL)
			break;
		snprintf(name, sizeof(name), "data-%u.key", gen);
		if (read_key_file(dir, name, data, err) != 0
		    || keyring_add(kr, sk, data, err) != 0) {
			EVP_PKEY_free(sk);
			OPENSSL_cleanse(data, sizeof(data));
			return -1;
		}
		OPENSSL_cleanse(data, sizeof(data));
	}
	if (errno != ENOENT)		/* a damaged or unreadable key */
		return -1;
	if (kr->n == 0)
		return mk_error_set(err, "%s/keys: no signing-1.pem", dir);
	return 0;
}

/* keyring_free - forget every key; kr itself is the caller's */
void
keyring_free(keyring *kr)
{
	struct record_key *rk, *next;
	unsigned i;

	for (i = 0; i < kr->n; i++) {
		EVP_PKEY_free(kr->gens[i].signing);
		OPENSSL_cleanse(kr->gens[i].data, KEYS_AES);
	}
	free(kr->gens);
	for (rk = kr->record_keys; rk != NULL; rk = next) {
		next = rk->next;
		OPENSSL_cleanse(rk, sizeof(*rk));
		free(rk);
	}
	free(kr->dir);
	pthread_mutex_destroy(&kr->lock);
	memset(kr, 0, sizeof(*kr));
}

/* keys_new_generation - create signing-gen.pem and data-gen.key in dir;
 * the new public key into pub */
int
keys_new_generation(const char *dir, unsigned gen,
		    unsigned char pub[KEYS_PUBLIC], mk_error *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	unsigned char data[KEYS_AES];
	char name[KEYS_NAME_MAX];
	BIO *mem = BIO_new(BIO_s_mem());
	size_t publen = KEYS_PUBLIC;
	char *pem;
	long len;
	int rc = -1;

	if (key == NULL || mem == NULL
	    || PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL) != 1
	    || EVP_PKEY_get_raw_public_key(key, pub, &publen) != 1) {
		mk_error_set(err, "cannot generate an Ed25519 key");
	} else if (RAND_priv_bytes(data, sizeof(data)) != 1) {
		mk_error_set(err, "no randomness for a data key");
	} else {
		len = BIO_get_mem_data(mem, &pem);
		snprintf(name, sizeof(name), "data-%u.key", gen);
		if (write_key_file(dir, name, data, sizeof(data), err) == 0) {
			snprintf(name, sizeof(name), "signing-%u.pem", gen);
			rc = write_key_file(dir, name, pem, (size_t)len, err);
		}
	}
	OPENSSL_cleanse(data, sizeof(data));
	BIO_free(mem);
	EVP_PKEY_free(key);
	return rc;
}

/* keyring_public - the raw public key of generation gen; 0 or -1 */
int
keyring_public(const keyring *kr, unsigned gen, unsigned char pub[KEYS_PUBLIC])
{
	size_t len = KEYS_PUBLIC;

	if (gen < 1 || gen > kr->n)
		return -1;
	return EVP_PKEY_get_raw_public_key(kr->gens[gen - 1].signing, pub,
					   &len) == 1 ? 0 : -1;
}

/* keyring_data_key - the AES key of generation gen, or NULL */
const unsigned char *
keyring_data_key(const keyring *kr, unsigned gen)
{
	return gen >= 1 && gen <= kr->n ? kr->gens[gen - 1].data : NULL;
}

/* keyring_sign - Ed25519 signature of msg with generation gen's key */
int
keyring_sign(const keyring *kr, unsigned gen, const void *msg, size_t len,
	     unsigned char sig[KEYS_SIG], mk_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t siglen = KEYS_SIG;
	int ok;

	if (gen < 1 || gen > kr->n || md == NULL) {
		EVP_MD_CTX_free(md);
		return mk_error_set(err, "no signing key %u", gen);
	}
	ok = EVP_DigestSignInit(md, NULL, NULL, NULL,
				kr->gens[gen - 1].signing) == 1
	    && EVP_DigestSign(md, sig, &siglen, msg, len) == 1;
	EVP_MD_CTX_free(md);
	return ok ? 0 : mk_error_set(err, "Ed25519 signing failed");
}

/* ed25519_verify - 0 if sig is pub's signature of msg, else -1 */
int
ed25519_verify(const unsigned char pub[KEYS_PUBLIC], const void *msg,
	       size_t len, const unsigned char sig[KEYS_SIG])
{
	EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						    pub, KEYS_PUBLIC);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = key != NULL && md != NULL
	    && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1
	    && EVP_DigestVerify(md, sig, KEYS_SIG, msg, len) == 1;

	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	return ok ? 0 : -1;
}

/* keys_record_key_name - the name of the day key of retain_until's
 * group (content.c): record-YYYY-MM-DD.key or record-forever.key */
void
keys_record_key_name(int64_t retain_until, char name[KEYS_NAME_MAX])
{
	char group[CONTENT_GROUP_MAX];

	content_group(retain_until, group);
	snprintf(name, KEYS_NAME_MAX, "record-%s.key", group);
}

/* cached_record_key - the cached key called name, or NULL; locked */
static struct record_key *
cached_record_key(keyring *kr, const char *name)
{
	struct record_key *rk;

	for (rk = kr->record_keys; rk != NULL; rk = rk->next)
		if (strcmp(rk->name, name) == 0)
			return rk;
	return NULL;
}

/* new_record_key - read keys/name, or create it when create is set */
static struct record_key *
new_record_key(keyring *kr, const char *name, bool create, mk_error *err)
{
	struct record_key *rk = calloc(1, sizeof(*rk));
	int rc;

	if (rk == NULL) {
		mk_error_set(err, "out of memory");
		return NULL;
	}
	snprintf(rk->name, sizeof(rk->name), "%s", name);
	rc = read_key_file(kr->dir, name, rk->key, err);
	if (rc != 0 && errno == ENOENT && create) {
		if (RAND_priv_bytes(rk->key, KEYS_AES) != 1)
			mk_error_set(err, "no randomness for a record key");
		else
			rc = write_key_file(kr->dir, name, rk->key, KEYS_AES, err);
	}
	if (rc != 0) {
		free(rk);
		return NULL;
	}
	rk->next = kr->record_keys;
	kr->record_keys = rk;
	return rk;
}

/* keyring_record_key - the record key called name into key; with create,
 * a missing key is made.  -1 with err when absent (destroyed) or bad. */
int
keyring_record_key(keyring *kr, const char *name, bool create,
		   unsigned char key[KEYS_AES], mk_error *err)
{
	struct record_key *rk;

	pthread_mutex_lock(&kr->lock);
	if ((rk = cached_record_key(kr, name)) == NULL)
		rk = new_record_key(kr, name, create, err);
	if (rk != NULL)
		memcpy(key, rk->key, KEYS_AES);
	pthread_mutex_unlock(&kr->lock);
	return rk != NULL ? 0 : -1;
}

/* keyring_forget - drop the cached record key called name (its file was
 * destroyed: expire.c), its bytes wiped */
void
keyring_forget(keyring *kr, const char *name)
{
	struct record_key **p, *rk;

	pthread_mutex_lock(&kr->lock);
	for (p = &kr->record_keys; *p != NULL; p = &(*p)->next)
		if (strcmp((*p)->name, name) == 0) {
			rk = *p;
			*p = rk->next;
			OPENSSL_cleanse(rk, sizeof(*rk));
			free(rk);
			break;
		}
	pthread_mutex_unlock(&kr->lock);
}

/* aead_seal - AES-256-GCM of in into out (same length) and tag */
int
aead_seal(const unsigned char key[KEYS_AES],
	  const unsigned char nonce[KEYS_NONCE], const void *aad,
	  size_t aad_len, const void *in, size_t len, unsigned char *out,
	  unsigned char tag[KEYS_TAG])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	ok = c != NULL
	    && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1
	    && EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1
	    && EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1
	    && EVP_EncryptFinal_ex(c, out + n, &n) == 1
	    && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, KEYS_TAG, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* aead_open - check and decrypt what aead_seal() made; 0 or -1 */
int
aead_open(const unsigned char key[KEYS_AES],
	  const unsigned char nonce[KEYS_NONCE], const void *aad,
	  size_t aad_len, const void *in, size_t len, unsigned char *out,
	  const unsigned char tag[KEYS_TAG])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	ok = c != NULL
	    && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1
	    && EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1
	    && EVP_DecryptUpdate(c, out, &n, in, (int)len) == 1
	    && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, KEYS_TAG,
				   (void *)tag) == 1
	    && EVP_DecryptFinal_ex(c, out + n, &n) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}
