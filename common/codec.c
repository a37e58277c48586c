/*
 * codec.c - the text that names a blob codec and its level.  See codec.h
 * and mailkeep.conf(5), "compression".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/codec.h"

/* parse_level - text, all of it, as a level in [min, max] into *out */
static int
parse_level(const char *text, long min, long max, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno != 0 || *text == '\0' || *end != '\0' || n < min || n > max)
		return -1;
	*out = (int)n;
	return 0;
}

/* mk_compression_parse - a value of "compression" (mkconfig.h) */
int
mk_compression_parse(const char *value, mk_codec *codec, int *level,
		     char *why, size_t why_len)
{
	const char *colon = strchr(value, ':');
	size_t name = colon != NULL ? (size_t)(colon - value) : strlen(value);
	int n = 0;

	if (strcasecmp(value, "none") == 0)
		return *codec = MK_CODEC_NONE, *level = 0, 0;
	if (value[0] >= '0' && value[0] <= '9') {	/* before zstd: zlib */
		if (parse_level(value, 0, 9, &n) == 0)
			return *codec = n ? MK_CODEC_ZLIB : MK_CODEC_NONE,
			    *level = n, 0;
	} else if (name == 4 && strncasecmp(value, "zstd", 4) == 0) {
		if (colon == NULL)
			return *codec = MK_CODEC_ZSTD,
			    *level = MK_DEFAULT_LEVEL, 0;
		if (parse_level(colon + 1, MK_ZSTD_MIN_LEVEL,
				MK_ZSTD_MAX_LEVEL, &n) == 0 && n != 0)
			return *codec = MK_CODEC_ZSTD, *level = n, 0;
	} else if (name == 4 && strncasecmp(value, "zlib", 4) == 0) {
		if (colon == NULL)
			return *codec = MK_CODEC_ZLIB, *level = 1, 0;
		if (parse_level(colon + 1, 1, 9, &n) == 0)
			return *codec = MK_CODEC_ZLIB, *level = n, 0;
	}
	snprintf(why, why_len, "compression must be zstd, zstd:LEVEL (%d to %d,"
		 " not 0), zlib, zlib:LEVEL (1 to 9), none, or 0 to 9 (a zlib"
		 " level, 0 none), not \"%s\"", MK_ZSTD_MIN_LEVEL,
		 MK_ZSTD_MAX_LEVEL, value);
	return -1;
}
