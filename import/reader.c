/*
 * reader.c - a FILE read through a buffer that can be looked into ahead.
 *
 * NAME
 *	reader - buffered reading with a bounded look-ahead
 *
 * DESCRIPTION
 *	The mbox splitter decides at each line start whether the line is a
 *	separator, which needs up to IMPORT_MAX_FROM_LINE bytes ahead, and
 *	passes everything else through in pieces.  reader_avail() makes
 *	"want" bytes available (fewer only at the end of the file or on a
 *	read error), moving the unread rest to the buffer's start; memory
 *	is IMPORT_READ_BUF bytes whatever the length of a line.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "import/internal.h"

/* reader_init - a reader of f (not owned); -1 when out of memory */
int
reader_init(reader *rd, FILE *f)
{
	memset(rd, 0, sizeof(*rd));
	rd->f = f;
	rd->buf = malloc(READER_BUF);
	return rd->buf == NULL ? -1 : 0;
}

/* reader_free - release the buffer (not the FILE) */
void
reader_free(reader *rd)
{
	free(rd->buf);
	rd->buf = NULL;
}

/* reader_avail - make at least want (< READER_BUF) bytes
 * available if the file has them; how many are */
size_t
reader_avail(reader *rd, size_t want)
{
	size_t n;

	while (rd->len - rd->pos < want && !rd->eof && rd->err == 0) {
		if (rd->pos > 0) {
			memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
			rd->off += (int64_t)rd->pos;
			rd->len -= rd->pos;
			rd->pos = 0;
		}
		n = fread(rd->buf + rd->len, 1, READER_BUF - rd->len, rd->f);
		rd->len += n;
		if (n > 0)
			clearerr(rd->f);	/* an error shows at the next read */
		else if (ferror(rd->f))
			rd->err = errno != 0 ? errno : EIO;
		else if (n == 0)
			rd->eof = true;
	}
	return rd->len - rd->pos;
}

/* reader_skip - consume n available bytes */
void
reader_skip(reader *rd, size_t n)
{
	rd->pos += n;
}

/* reader_ptr - the first unread byte */
const char *
reader_ptr(const reader *rd)
{
	return rd->buf + rd->pos;
}
