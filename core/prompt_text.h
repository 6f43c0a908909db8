/* Catalog text in what the code-generation agent reads.  Names, comments,
 * types and notes come from sources the broker does not control: they are
 * data, never markup or code.  The prompt shows them through
 * dsb_prompt_text, the generated PySpark through dsb_py_literal; the rules
 * are in docs/http-api.md ("Catalog text in the prompt"). */
#ifndef DSB_CORE_PROMPT_TEXT_H
#define DSB_CORE_PROMPT_TEXT_H

#include "util.h"

/* How a piece of catalog text is shown in the prompt. */
enum dsb_pt_form {
    DSB_PT_TEXT,    /* inside a broker line: types, notes, routing reasons */
    DSB_PT_NAME,    /* an identifier: bare when plain, else in backticks */
    DSB_PT_COMMENT, /* in double quotes, capped at DSB_PT_COMMENT_MAX */
    DSB_PT_VALUE,   /* a data value (sample, statistic): as COMMENT, capped
                     * at DSB_PT_VALUE_MAX */
};

/* Characters of a comment shown before it is cut. */
#define DSB_PT_COMMENT_MAX 300
/* Characters of a data value shown before it is cut. */
#define DSB_PT_VALUE_MAX 60

/*
 * Appends s (borrowed, any bytes; NULL is shown as "") to b neutralised:
 * invalid UTF-8 shown as U+FFFD; runs of TAB, LF and CR folded to one
 * space; control and invisible characters escaped (\x1b, \u202e); a
 * backslash doubled; runs of three or more backticks or tildes escaped
 * (\x60, \x7e).  TEXT: a leading # > - * + (after spaces) gets a
 * backslash.  NAME: bare when it matches ^[a-z_][a-z0-9_]*$, else in
 * backticks with every backtick inside escaped.  COMMENT: in double quotes
 * with " escaped, cut after DSB_PT_COMMENT_MAX characters with
 * `…" (N more characters)`.  VALUE: as COMMENT, cut after
 * DSB_PT_VALUE_MAX characters.  Memory errors latch in b.
 */
void dsb_prompt_text(struct dsb_sb *b, const char *s, enum dsb_pt_form form);

/*
 * Appends s (borrowed) to b as a double-quoted Python string literal of the
 * same value: " and \ escaped, LF as \n, control and invisible characters
 * as \uXXXX or \UXXXXXXXX, backticks and tildes in runs of three or more as
 * \u0060 and \u007e (so no fence or control byte is in the code); invalid
 * UTF-8 becomes U+FFFD.  Memory errors latch in b.
 */
void dsb_py_literal(struct dsb_sb *b, const char *s);

#endif
