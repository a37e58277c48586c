/*
 * access.h - the one interface of mailkeep's access service.
 *
 * NAME
 *	access - who may read what in the archive, and the only way to ask
 *
 * SYNOPSIS
 *	#include "access/access.h"
 *
 * DESCRIPTION
 *	Readers never open archive files themselves.  mailkeep-access(8)
 *	runs as the archive's account, listens on a Unix socket, takes each
 *	caller's identity from the kernel (SO_PEERCRED) and answers a closed
 *	set of typed requests.  Every answer passes through one function,
 *	access_serve(), which
 *
 *	  1. decides (access_decide(): the caller's roles from the policy
 *	     against the message's stored roles, the built-in roles admin
 *	     and auditor, four-eyes approvals),
 *	  2. writes the audit entry to the ledger (access_audit_write()),
 *	     granted, refused or failed alike, and
 *	  3. only then answers - no entry, no answer.
 *
 *	A message the caller may not see is answered exactly as a message
 *	that does not exist: the same error text, the same status, and the
 *	same work (a lookup and a ledger append) behind it.
 *
 *	The protocol (mailkeep-access(8); the members of each request are
 *	listed in access/request.c): the client sends
 *	one request, a JSON object on one line of at most ACCESS_MAX_REQUEST
 *	bytes; the service answers with frames, each a type byte, a 32-bit
 *	big-endian length and that many bytes:
 *
 *	  'J'  one JSON item (a message, an audit entry, a request, a
 *	       verify problem, ...)
 *	  'D'  bytes of message content (get)
 *	  'P'  progress of a long operation, JSON {"phase","done","total"}
 *	  'E'  the end: JSON {"ok":true,...} or {"ok":false,"error":TEXT}
 *
 *	and closes the connection.  Exactly one 'E' ends every answer.
 *
 *	The same access_serve() will serve the web UI, with an identity
 *	that comes from an authenticated session instead of a socket.
 *
 * DIAGNOSTICS
 *	Functions that can fail return 0 or -1 and fill the caller's
 *	mk_error.  Nothing here prints.
 */
#ifndef MAILKEEP_ACCESS_H
#define MAILKEEP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "archive/archive.h"
#include "common/error.h"
#include "common/mkconfig.h"
#include "discovery/discovery.h"
#include "policy/policy.h"

/* Limits a client can meet; documented in mailkeep-access(8). */
#define ACCESS_MAX_REQUEST	65536	/* bytes of a request line */
#define ACCESS_MAX_FRAME	(64 << 20)	/* bytes of one frame: a message's
					   JSON with ARCHIVE_MAX_RCPTS
					   recipients of ARCHIVE_MAX_FIELD
					   bytes, in Base64, fits */
#define ACCESS_MAX_RESULTS	100000	/* messages one search returns */
#define ACCESS_MAX_REASON	1000	/* bytes of a four-eyes reason */
#define ACCESS_MAX_CLIENTS	64	/* connections served at once */
#define ACCESS_READ_SECONDS	10	/* to send the request */
#define ACCESS_WRITE_SECONDS	60	/* for one frame to leave */
#define ACCESS_MAX_USER		64	/* bytes of a user name */
#define ACCESS_MAX_HOLD_NAME	64	/* bytes of a hold's name: letters,
					   digits, '.', '_', '-' */
#define ACCESS_MAX_SOURCES	256	/* paths named by one import */
#define ACCESS_MAX_CHUNK	(1 << 20)	/* bytes of an import 'D' frame */
#define ACCESS_IMPORT_WINDOW	64	/* messages an import client may have
					   finished without their answer */

/* Frame types. */
#define ACCESS_FRAME_ITEM	'J'
#define ACCESS_FRAME_DATA	'D'
#define ACCESS_FRAME_PROGRESS	'P'
#define ACCESS_FRAME_END	'E'

/* What an import client sends after the service's {"ready":true} item:
 * for each message MESSAGE (its envelope, access_import_msg_json()),
 * DATA frames of its bytes (at most ACCESS_MAX_CHUNK each), then FINISH
 * or CANCEL (the source could not be read to its end: drop it).  The
 * service answers each with an item {"n": the message's number in the
 * run, from 1, "outcome", ...}, in the order they are stored, not sent;
 * a client may have at most ACCESS_IMPORT_WINDOW messages finished
 * without their answer.  EXIT after the last: the remaining answers,
 * then the END frame with the counts. */
#define ACCESS_FRAME_MESSAGE	'M'
#define ACCESS_FRAME_FINISH	'F'
#define ACCESS_FRAME_CANCEL	'K'
#define ACCESS_FRAME_EXIT	'X'

/* The requests: a closed set. */
typedef enum {
	ACCESS_OP_NONE = 0,
	ACCESS_OP_WHOAMI,	/* who the service thinks you are */
	ACCESS_OP_SEARCH,	/* metadata of matching messages */
	ACCESS_OP_SHOW,		/* metadata of one message */
	ACCESS_OP_GET,		/* content of one message */
	ACCESS_OP_PROOF,	/* inclusion proof of one message */
	ACCESS_OP_VERIFY,	/* check the whole archive (auditor, admin) */
	ACCESS_OP_AUDIT,	/* the audit trail (auditor, admin) */
	ACCESS_OP_REQUEST,	/* ask for a four-eyes release */
	ACCESS_OP_REQUESTS,	/* four-eyes requests you made or may decide */
	ACCESS_OP_APPROVE,	/* release someone else's request */
	ACCESS_OP_DENY,		/* refuse someone else's request */
	ACCESS_OP_STATUS,	/* how far the full-text index has got */
	ACCESS_OP_EXPORT,	/* content, manifest data and proofs of the
				   matching messages the caller may get */
	ACCESS_OP_HOLD,		/* place a legal hold (admin) */
	ACCESS_OP_HOLDS,	/* the holds, or one (admin, auditor) */
	ACCESS_OP_RELEASE,	/* release a legal hold (admin) */
	ACCESS_OP_EXPIRE,	/* forget what is due and not held (admin) */
	ACCESS_OP_IMPORT,	/* store mail that predates the milter,
				   streamed by the client (admin) */
	ACCESS_OP_POLICY_APPLY	/* re-decide stored messages under the
				   current policy (admin) */
} access_op;

/* One request, parsed and checked.  Strings are owned (free with
 * access_request_free()); unset ones are NULL. */
typedef struct access_request {
	access_op op;
	archive_query query;		/* search; its strings owned here */
	char id[ARCHIVE_ID_LEN + 1];	/* show, get, proof, request */
	access_op asks;			/* request: ACCESS_OP_GET or _SHOW */
	char *reason;			/* request: why (required) */
	int64_t number;			/* approve, deny: the request's number */
	char *keys_pem;			/* verify: pinned public keys, or NULL */
	char *user;			/* audit: a user name or uid */
	char *action;			/* audit: an action word */
	char message[ARCHIVE_ID_LEN + 1];	/* audit: a message id, or "" */
	int64_t since, until;		/* search, audit: microseconds; 0 none */
	size_t limit;			/* search, audit: 0 for no limit */
	char *q;			/* search: query text, or NULL */
	bool newest;			/* search: newest first */
	size_t offset;			/* search: visible matches passed over */
	bool count;			/* search: the number only */
	char *name;			/* hold, holds, release: the hold */
	bool dry_run;			/* expire, policy_apply: count,
					   change nothing */
	char *kind;			/* import: "mbox", "maildir", "eml" */
	char **sources;			/* import: the paths named, for the
					   audit trail */
	size_t n_sources;
	int64_t received_at;		/* import: the time every message is
					   taken to have arrived (usec), 0:
					   each its own */
} access_request;

/* access_op_name - the request's word ("search", ...); "" for none */
const char *access_op_name(access_op op);

/* access_request_parse - one request line (JSON, no newline) into out.
 * Unknown members, wrong types, ids of the wrong shape, oversized
 * strings are refused with a message in err; out is then left empty. */
int access_request_parse(const char *line, size_t len, access_request *out,
			 mk_error *err);

/* access_request_format - rq as a request line with its newline;
 * malloc'ed, owned by the caller; NULL when out of memory */
char *access_request_format(const access_request *rq);

/* access_request_free - free the strings of rq (not rq itself) */
void access_request_free(access_request *rq);

/* Who is asking.  Made by access_identity_of(); access_identity_free(). */
typedef struct access_identity {
	uid_t uid;
	char user[ACCESS_MAX_USER + 1];	/* "#UID" when the uid has no name */
	char **roles;			/* sorted role names, owned */
	size_t n_roles;
	bool admin;			/* has the built-in role admin */
	bool auditor;			/* has the built-in role auditor */
	const char *via;		/* "socket", "offline", "web" */
} access_identity;

/*
 * access_identity_of - the identity of uid: its name from the password
 * database, its groups from the group database (getgrouplist), its roles
 * from pol (policy_roles_of()); with pol NULL (offline work, where the
 * kernel's file modes decide) no roles.  via is kept as given (a literal).
 */
int access_identity_of(const policy *pol, uid_t uid, const char *via,
		       access_identity *out, mk_error *err);

/* access_identity_free - free what access_identity_of() allocated */
void access_identity_free(access_identity *who);

/* What the decision needs to know about one message. */
typedef struct access_subject {
	const char *const *roles;	/* the message's stored roles */
	size_t n_roles;
	policy_four_eyes_rule four_eyes; /* from the current policy */
	bool approved_show;		/* who holds a live approval to see */
	bool approved_get;		/* ... and to get the content */
	bool has_requester;		/* approve, deny: whose request */
	uid_t requester;
	access_op asks;			/* request: get or show */
} access_subject;

/* Why access_decide() refused; ACCESS_OK when it granted. */
typedef enum {
	ACCESS_OK = 0,
	ACCESS_NO_ROLE,		/* none of the caller's roles covers it */
	ACCESS_NEEDS_APPROVAL,	/* four-eyes: no live approval */
	ACCESS_NOT_PERMITTED,	/* the operation needs admin or auditor */
	ACCESS_SELF_APPROVAL,	/* approving or denying one's own request */
	ACCESS_NOT_NEEDED,	/* a request where four-eyes does not apply */
	ACCESS_NO_ROLES,	/* status: the caller holds no role at all */
	ACCESS_NEEDS_ADMIN	/* holds and expiry are the admin's */
} access_verdict;

/* access_decide - may who do op (on msg, NULL for verify and audit)?
 * Pure: no I/O, no clock. */
access_verdict access_decide(const access_identity *who, access_op op,
			     const access_subject *msg);

/* access_verdict_text - a short phrase for the audit trail */
const char *access_verdict_text(access_verdict v);

/* access_covers - does one of who's roles appear among roles? */
bool access_covers(const access_identity *who, const char *const *roles,
		   size_t n_roles);

/* An audit entry before it is written. */
typedef enum { ACCESS_GRANTED, ACCESS_REFUSED, ACCESS_ERROR } access_outcome;

typedef struct access_audit {
	access_op op;
	access_outcome outcome;
	const char *why;		/* refused or error: the reason, or NULL */
	const char *query_json;		/* the query terms as a JSON object
					   text, or NULL */
	const char *const *ids;		/* message ids returned or read */
	size_t n_ids;
	access_op asks;			/* request: what is asked for */
	const char *reason;		/* request: the requester's reason */
	int64_t number;			/* approve, deny: the request */
	int64_t until;			/* approve: release ends (usec) */
	const char *hold;		/* hold, release: the hold's name */
	const char *apply_reason;	/* policy_apply: why */
	const char *terms;		/* hold: its terms, canonical */
} access_audit;

/* access_audit_write - the audit entry of who's action into ar's ledger,
 * durably; its seq into *seq (may be NULL) */
int access_audit_write(archive *ar, const access_identity *who,
		       const access_audit *a, int64_t *seq, mk_error *err);

/* access_audit_query - the query terms of rq as a JSON object text
 * (malloc'ed), or NULL when the request has none or memory ran out */
char *access_audit_query(const access_request *rq);

/* An audit listing's filter: unset fields do not restrict. */
typedef struct access_audit_filter {
	const char *user;		/* user name, or uid in decimal */
	const char *message;		/* message id among the entry's ids */
	const char *action;		/* action word */
	int64_t since, until;		/* entry time, microseconds */
	size_t limit;
} access_audit_filter;

/* access_audit_list - fn(entry JSON text, ctx) for each audit entry of
 * ar's ledger that f lets through, oldest first; fn returns non-zero to
 * stop */
typedef int (*access_entry_fn)(const char *entry, size_t len, void *ctx);
int access_audit_list(archive *ar, const access_audit_filter *f,
		      access_entry_fn fn, void *ctx, mk_error *err);

/* access_message_obj - msg (and a snippet, or NULL) as the wire's JSON
 * object, new; access_message_json() gives it as text */
json_t *access_message_obj(const archive_message *msg, const char *snippet);

/* access_message_json - msg as the wire's JSON object text (malloc'ed);
 * strings that are not UTF-8 travel as {"base64": ...}; a search's
 * snippet (discovery_snippet()) goes with it when not NULL */
char *access_message_json(const archive_message *msg, const char *snippet);

/* access_message_parse - the wire's JSON text back into a new message
 * (archive_message_free()); NULL and err when it is not one */
archive_message *access_message_parse(const char *text, size_t len,
				      mk_error *err);

/* access_checkpoint_json - a checkpoint as a new JSON object: size, root,
 * time (usec), key, text, signature, valid */
json_t *access_checkpoint_json(const archive_checkpoint *cp);

/* access_status_json - the full-text index's progress as a new JSON
 * object: stored, indexed, lag_messages, lag_seconds, last_seq, errors,
 * last_error {id, error, time} */
json_t *access_status_json(const discovery_status *st);

/* access_path_json - a Merkle audit path as a JSON array of hex */
json_t *access_path_json(char (*path)[ARCHIVE_SHA256_HEX + 1], size_t n);

/* access_proof_json - an inclusion proof as a new JSON object: id, seq,
 * leaf_index, entry, leaf_hash, tree_size, path, checkpoint, record */
json_t *access_proof_json(const archive_proof *p);
/* access_verify_json - verify's counts (archive_verify_stats) as a new
 * JSON object, as the verify answer and verify --json give them */
json_t *access_verify_json(const archive_verify_stats *st);

/* access_entry_proof_json - the proof of any ledger entry (no id, no
 * record): seq, leaf_index, entry, leaf_hash, tree_size, path,
 * checkpoint */
json_t *access_entry_proof_json(const archive_proof *p);

/* The service: shared state of every request (the policy, the four-eyes
 * book), safe to use from many threads at once. */
typedef struct access_service access_service;

/* access_service_new - a service over cfg's archive with policy pol
 * (taken over); reads the four-eyes requests from the ledger */
access_service *access_service_new(const mk_config *cfg, policy *pol,
				   mk_error *err);

/* access_service_set_policy - pol (taken over) applies from the next
 * request on */
void access_service_set_policy(access_service *s, policy *pol);

/* access_service_free - free the service; no request may be running */
void access_service_free(access_service *s);

/* access_service_identity - access_identity_of() with the service's
 * current policy */
int access_service_identity(access_service *s, uid_t uid, const char *via,
			    access_identity *out, mk_error *err);

/*
 * access_serve - answer rq for who: emit(type, bytes, length, ctx) for
 * each frame, the last one ACCESS_FRAME_END.  Returns 0 when the answer
 * was handed to emit whole, -1 when emit failed (the client is gone; the
 * audit entry, if any, is already on disk and whole).
 */
typedef int (*access_emit_fn)(char type, const void *buf, size_t len,
			      void *ctx);
int access_serve(access_service *s, const access_identity *who,
		 const access_request *rq, access_emit_fn emit, void *ctx);

/*
 * access_serve_stream - access_serve() for a request that goes on with
 * frames from the client (import): recv(type, bytes, length, ctx) gives
 * the next one (1, or -1 when the client is gone or sent no frame in
 * time); the bytes stay valid until the next call.
 */
typedef int (*access_recv_fn)(char *type, const char **buf, size_t *len,
			      void *ctx);
int access_serve_stream(access_service *s, const access_identity *who,
			const access_request *rq, access_emit_fn emit,
			access_recv_fn recv, void *ctx);

/* An imported message's envelope as it travels (the MESSAGE frame):
 * derived from its headers by import/ on the client's side. */
typedef struct access_import_msg {
	char *mail_from;
	char **rcpts;
	size_t n_rcpts;
	char *message_id, *subject, *date;	/* header values, or NULL */
	int64_t received_at;		/* usec */
	char *source;			/* where it came from, for people */
} access_import_msg;

/* access_import_msg_json - m as the MESSAGE frame's text (strings that
 * are not UTF-8 as {"base64": ...}); malloc'ed, NULL when out of memory */
char *access_import_msg_json(const access_import_msg *m);

/* access_import_msg_parse - a MESSAGE frame into out (owned strings:
 * access_import_msg_free()); -1 and err when it is not one */
int access_import_msg_parse(const char *text, size_t len,
			    access_import_msg *out, mk_error *err);

/* access_import_msg_free - the strings of m (not m) */
void access_import_msg_free(access_import_msg *m);

/* access_frame_read - one frame from fd of at most max bytes into *buf
 * (grown as needed, *cap its size; NUL-terminated): 1, 0 when the peer
 * closed before a frame, -1 with err */
int access_frame_read(int fd, char *type, char **buf, size_t *cap,
		      size_t *len, size_t max, mk_error *err);

/* access_frame_write - one frame to fd; 0, or -1 with err */
int access_frame_write(int fd, char type, const void *buf, size_t len,
		       mk_error *err);

/* A client's connection to the service. */
typedef struct access_client access_client;

/* access_client_open - connect to the service at socket_path and send
 * rq; NULL and err ("the access service is not running ...") */
access_client *access_client_open(const char *socket_path,
				  const access_request *rq, mk_error *err);

/* access_client_next - the next frame: its type, its bytes (valid until
 * the next call; NUL-terminated for convenience) and length.  Returns 1
 * for a frame, 0 after the end frame was read, -1 on error. */
int access_client_next(access_client *c, char *type, const char **buf,
		       size_t *len, mk_error *err);

/* access_client_send - one frame to the service (import) */
int access_client_send(access_client *c, char type, const void *buf,
		       size_t len, mk_error *err);

/* access_client_fd - the connection's socket, for a signal handler to
 * shutdown(2) so that a blocked read ends (export's Ctrl-C) */
int access_client_fd(const access_client *c);

/* access_client_close - close and free; NULL is fine */
void access_client_close(access_client *c);

#endif /* MAILKEEP_ACCESS_H */
