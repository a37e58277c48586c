/*
 * decide.c - who a caller is, and what they may do.
 *
 * NAME
 *	decide - identities and the access decision
 *
 * DESCRIPTION
 *	An identity is a uid the kernel vouched for, its name from the
 *	password database, and its roles: the policy's [role] sections that
 *	name the user or one of the groups the group database gives it
 *	(getgrouplist(), read at every request, so a change to /etc/group
 *	or the policy applies to the next request).
 *
 *	access_decide() is the whole rule, and pure:
 *
 *	  search, show, proof   a role of the caller is among the message's
 *	                        roles; with four_eyes_metadata, also a live
 *	                        approval (to show or to get)
 *	  get                   the same; with four_eyes, a live approval to
 *	                        get
 *	  request               a covering role, and four-eyes applies to
 *	                        what is asked (show: four_eyes_metadata)
 *	  approve, deny         a covering role, and not one's own request
 *	  verify, audit         the built-in role auditor or admin
 *	  whoami, requests      anyone (requests lists only what is theirs
 *	                        to see)
 *	  status                anyone with a role (it shows counts only)
 *
 *	The built-in roles never cover a message: policy_load() refuses
 *	them in a rule's roles, so no message carries them.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/access.h"

#define MAX_GROUPS	1024	/* groups of one user considered */

/* user_of - uid's name (or "#UID") and primary group; 0 or -1 with err */
static int
user_of(uid_t uid, char name[ACCESS_MAX_USER + 1], gid_t *gid, bool *found,
	mk_error *err)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc = getpwuid_r(uid, &pw, buf, sizeof(buf), &res);

	*found = false;
	if (rc != 0 && rc != ENOENT && rc != ESRCH)
		return mk_error_set(err, "password database: %s", strerror(rc));
	if (res == NULL || strlen(res->pw_name) > ACCESS_MAX_USER) {
		snprintf(name, ACCESS_MAX_USER + 1, "#%lu", (unsigned long)uid);
		*gid = (gid_t)-1;
		return 0;
	}
	snprintf(name, ACCESS_MAX_USER + 1, "%s", res->pw_name);
	*gid = res->pw_gid;
	*found = true;
	return 0;
}

/* group_names - the names of user's groups (malloc'ed array of malloc'ed
 * names) into *names; the count, or -1 when out of memory */
static int
group_names(const char *user, gid_t gid, char ***names)
{
	gid_t gids[MAX_GROUPS];
	int n = MAX_GROUPS, i, k = 0;
	struct group gr, *res;
	char buf[16384];

	*names = NULL;
	if (getgrouplist(user, gid, gids, &n) < 0)
		n = MAX_GROUPS;		/* the first MAX_GROUPS are in gids */
	if ((*names = calloc((size_t)n + 1, sizeof(**names))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		res = NULL;
		if (getgrgid_r(gids[i], &gr, buf, sizeof(buf), &res) != 0
		    || res == NULL)
			continue;
		if (((*names)[k] = strdup(res->gr_name)) == NULL)
			return k;
		k++;
	}
	return k;
}

/* take_roles - copy the policy's role names for who */
static int
take_roles(access_identity *who, const char **roles, size_t n)
{
	size_t i;

	if ((who->roles = calloc(n + 1, sizeof(*who->roles))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((who->roles[i] = strdup(roles[i])) == NULL)
			return -1;
		who->n_roles++;
		if (strcmp(roles[i], POLICY_ROLE_ADMIN) == 0)
			who->admin = true;
		if (strcmp(roles[i], POLICY_ROLE_AUDITOR) == 0)
			who->auditor = true;
	}
	return 0;
}

/* access_identity_of - name, groups and roles of uid */
int
access_identity_of(const policy *pol, uid_t uid, const char *via,
		   access_identity *out, mk_error *err)
{
	char **groups = NULL;
	const char **roles = NULL;
	int n_groups = 0, i, rc = 0;
	bool found;
	gid_t gid;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->uid = uid;
	out->via = via;
	if (user_of(uid, out->user, &gid, &found, err) != 0)
		return -1;
	if (pol != NULL && found
	    && (n_groups = group_names(out->user, gid, &groups)) < 0)
		return mk_error_set(err, "out of memory");
	if (pol == NULL)	/* offline: the kernel's file modes decide */
		roles = calloc(1, sizeof(*roles)), n = 0;
	else
		n = policy_roles_of(pol, found ? out->user : "",
				    (const char *const *)groups,
				    (size_t)n_groups, &roles);
	if (roles == NULL || take_roles(out, roles, n) != 0)
		rc = mk_error_set(err, "out of memory");
	free(roles);
	for (i = 0; groups != NULL && groups[i] != NULL; i++)
		free(groups[i]);
	free(groups);
	if (rc != 0)
		access_identity_free(out);
	return rc;
}

/* access_identity_free - the roles */
void
access_identity_free(access_identity *who)
{
	size_t i;

	for (i = 0; who->roles != NULL && i < who->n_roles; i++)
		free(who->roles[i]);
	free(who->roles);
	who->roles = NULL;
	who->n_roles = 0;
}

/* access_covers - one of who's roles is among roles */
bool
access_covers(const access_identity *who, const char *const *roles,
	      size_t n_roles)
{
	size_t i, k;

	for (i = 0; i < who->n_roles; i++) {
		if (policy_role_is_builtin(who->roles[i]))
			continue;
		for (k = 0; k < n_roles; k++)
			if (strcmp(who->roles[i], roles[k]) == 0)
				return true;
	}
	return false;
}

/* decide_message - an operation on one message */
static access_verdict
decide_message(const access_identity *who, access_op op,
	       const access_subject *msg)
{
	const policy_four_eyes_rule *fe = &msg->four_eyes;

	if (!access_covers(who, msg->roles, msg->n_roles))
		return ACCESS_NO_ROLE;
	switch (op) {
	case ACCESS_OP_GET:
		return fe->content && !msg->approved_get
		    ? ACCESS_NEEDS_APPROVAL : ACCESS_OK;
	case ACCESS_OP_REQUEST:	/* show needs one only with metadata */
		return (msg->asks == ACCESS_OP_SHOW ? fe->metadata : fe->content)
		    ? ACCESS_OK : ACCESS_NOT_NEEDED;
	case ACCESS_OP_APPROVE:
	case ACCESS_OP_DENY:
		return msg->has_requester && msg->requester == who->uid
		    ? ACCESS_SELF_APPROVAL : ACCESS_OK;
	default:	/* search, show, proof: metadata */
		return fe->metadata && !msg->approved_show && !msg->approved_get
		    ? ACCESS_NEEDS_APPROVAL : ACCESS_OK;
	}
}

/* access_decide - the rule of this file's header */
access_verdict
access_decide(const access_identity *who, access_op op,
	      const access_subject *msg)
{
	switch (op) {
	case ACCESS_OP_VERIFY:
	case ACCESS_OP_AUDIT:
	case ACCESS_OP_HOLDS:
		return who->admin || who->auditor ? ACCESS_OK
		    : ACCESS_NOT_PERMITTED;
	case ACCESS_OP_HOLD:
	case ACCESS_OP_RELEASE:
	case ACCESS_OP_EXPIRE:
	case ACCESS_OP_IMPORT:
	case ACCESS_OP_POLICY_APPLY:
		return who->admin ? ACCESS_OK : ACCESS_NEEDS_ADMIN;
	case ACCESS_OP_WHOAMI:
	case ACCESS_OP_REQUESTS:
		return ACCESS_OK;
	case ACCESS_OP_STATUS:	/* counts only: anyone the policy names */
		return who->n_roles > 0 ? ACCESS_OK : ACCESS_NO_ROLES;
	case ACCESS_OP_NONE:
		return ACCESS_NOT_PERMITTED;
	default:
		return msg != NULL ? decide_message(who, op, msg)
		    : ACCESS_NO_ROLE;
	}
}

/* access_verdict_text - the phrase for the audit trail */
const char *
access_verdict_text(access_verdict v)
{
	switch (v) {
	case ACCESS_OK: return "granted";
	case ACCESS_NO_ROLE: return "no role covers the message";
	case ACCESS_NEEDS_APPROVAL: return "four-eyes: no live approval";
	case ACCESS_NOT_PERMITTED: return "needs the role auditor or admin";
	case ACCESS_NO_ROLES: return "holds no role";
	case ACCESS_SELF_APPROVAL: return "one's own request";
	case ACCESS_NOT_NEEDED: return "four-eyes does not apply";
	case ACCESS_NEEDS_ADMIN: return "needs the role admin";
	}
	return "refused";
}
