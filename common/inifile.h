/*
 * inifile.h - reading an INI file (inih) with errors that name the line.
 *
 * inih reports only the first line it or a handler rejected; this layer
 * reads whole lines itself (up to MK_INI_MAX_LINE bytes; a longer line or
 * one with a NUL byte is refused, not cut), counts them, so every handler knows the line it is looking at,
 * tells section headers apart (so a section given twice is caught even
 * when it is empty), and reports each rejected line as "FILE:LINE: why":
 * the first (mk_ini_parse), or all of them (mk_ini_each).
 * Used by mailkeep.conf (common/mkconfig.c) and the policy (policy/).
 */
#ifndef MAILKEEP_INIFILE_H
#define MAILKEEP_INIFILE_H

#include <stddef.h>
#include <stdio.h>

#include "common/error.h"

#define MK_INI_WHY 256
#define MK_INI_MAX_LINE 65536		/* bytes in one line */
#define MK_INI_MAX_LINE_TEXT "65536"

/* A section header "[name]" at line; return 0, or -1 after filling why. */
typedef int (*mk_ini_section_fn)(void *user, const char *section, int line,
				 char why[MK_INI_WHY]);

/* A key; section is "" before any header; 0, or -1 after filling why. */
typedef int (*mk_ini_key_fn)(void *user, const char *section,
			     const char *name, const char *value, int line,
			     char why[MK_INI_WHY]);

/* mk_ini_why - format a handler's reason into out; returns -1 */
int mk_ini_why(char out[MK_INI_WHY], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A problem found at line of file name (for check modes, which name them
 * all). */
typedef void (*mk_ini_problem_fn)(void *ctx, const char *name, int line,
				  const char *why);

/* mk_ini_keep_first - a problem function keeping the first problem as
 * "name:line: why" in the mk_error ctx (which must start empty) */
void mk_ini_keep_first(void *ctx, const char *name, int line,
		       const char *why);

/* mk_ini_each - parse path, calling problem() for every line refused (by
 * the syntax or a handler, one problem a line); how many, or -1 with err
 * when the file cannot be read or memory ran out */
int mk_ini_each(const char *path, mk_ini_section_fn on_section,
		mk_ini_key_fn on_key, void *user, mk_ini_problem_fn problem,
		void *problem_ctx, mk_error *err);

/* mk_ini_each_fp - the same on an open stream, named name */
int mk_ini_each_fp(FILE *fp, const char *name, mk_ini_section_fn on_section,
		   mk_ini_key_fn on_key, void *user, mk_ini_problem_fn problem,
		   void *problem_ctx, mk_error *err);

/* mk_ini_parse - parse path; 0, or -1 with err "path:line: why" for the
 * first problem (or "path: ..." when it cannot be read) */
int mk_ini_parse(const char *path, mk_ini_section_fn on_section,
		 mk_ini_key_fn on_key, void *user, mk_error *err);

/* mk_ini_parse_fp - the same on an open stream, named name in errors */
int mk_ini_parse_fp(FILE *fp, const char *name, mk_ini_section_fn on_section,
		    mk_ini_key_fn on_key, void *user, mk_error *err);

#endif /* MAILKEEP_INIFILE_H */
