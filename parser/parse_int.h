/*
 * parse_int.h - internals shared by the lexer, the grammar and parse.c.
 */
#ifndef FLOWSQL_PARSE_INT_H
#define FLOWSQL_PARSE_INT_H

#include "parser/ast.h"
#include "grammar.h"

typedef struct token {
    int pos, len;   /* slice of the statement text */
} token_t;

typedef struct ast_list {
    ast_t **v;
    int     n, cap;
} ast_list_t;

typedef struct pstate {
    arena_t    *arena;
    const char *text;
    diag_t     *err;
    stmt_t     *stmt;
    select_t   *sel;
    int         failed;
    token_t     tok;        /* the token being parsed (for overflow) */
    int         prev_tk;    /* the token before it, 0 at the start */
    int         seen_from;  /* a FROM has been parsed */
    int         between_open; /* BETWEENs still waiting for their AND */
    int         lemon_refused; /* lemon's own %syntax_error ran */
} pstate_t;

/* Lexer (lexer.re): the next token at *pos; returns its code, 0 at the
 * end, TK_ILLEGAL after recording an error in err. */
int lex_next(const char *text, int *pos, token_t *tok, diag_t *err);

/* Grammar actions (parse.c). */
stmt_t *ps_stmt(pstate_t *ps, stmt_kind_t k);
void    ps_explain(pstate_t *ps, int analyze);
void    ps_create(pstate_t *ps, token_t name, int if_not_exists);
void    ps_option(pstate_t *ps, token_t key, token_t val);
void    ps_drop(pstate_t *ps, token_t name, int if_exists, int keep);
void    ps_select_begin(pstate_t *ps, token_t t);
void    ps_from(pstate_t *ps, token_t t);
void    ps_item(pstate_t *ps, ast_t *e, token_t *alias);
void    ps_window(pstate_t *ps, token_t w, token_t size);
void    ps_slide(pstate_t *ps, token_t t);
void    ps_window_on(pstate_t *ps, token_t t);
void    ps_lateness(pstate_t *ps, token_t kw, token_t t);
void    ps_range_last(pstate_t *ps, token_t kw, token_t d);
void    ps_range_since(pstate_t *ps, token_t kw, token_t t);
void    ps_range_until(pstate_t *ps, token_t kw, token_t t);
void    ps_range_between(pstate_t *ps, token_t kw, token_t lo, token_t hi);
void    ps_group(pstate_t *ps, ast_t *e);
void    ps_having(pstate_t *ps, token_t kw, ast_t *e);
void    ps_order(pstate_t *ps, ast_t *e, int desc);
void    ps_limit(pstate_t *ps, token_t t);
ast_t  *ps_literal(pstate_t *ps, int tk, token_t t);
ast_t  *ps_column(pstate_t *ps, token_t t);
ast_t  *ps_func(pstate_t *ps, token_t name, ast_list_t *args, int distinct,
                token_t rp);
ast_t  *ps_func_star(pstate_t *ps, token_t name, token_t star, token_t rp);
ast_t  *ps_bin(pstate_t *ps, ast_op_t op, ast_t *x, ast_t *y, token_t t);
ast_t  *ps_un(pstate_t *ps, ast_op_t op, ast_t *x, token_t t);
ast_t  *ps_in(pstate_t *ps, ast_t *x, ast_list_t *l, ast_t *cidr, int neg,
              token_t t);
ast_t  *ps_in_set(pstate_t *ps, ast_t *x, token_t set, int neg);
ast_t  *ps_between(pstate_t *ps, ast_t *x, ast_t *lo, ast_t *hi, int neg,
                   token_t t);
ast_t  *ps_case(pstate_t *ps, ast_t *op, ast_list_t *l, ast_t *els,
                token_t t);
ast_list_t *ps_list(pstate_t *ps, ast_list_t *l, ast_t *x);
void    ps_overflow(pstate_t *ps);

/* The %syntax_error hook; parser is the lemon engine (for the tokens it
 * would have accepted). */
void ps_syntax_error(pstate_t *ps, int major, token_t tok, void *parser);

/* The lexer's error for a token that starts with a digit but is no
 * number, duration or address ("10x", "1.2.3.4.5"). */
void ps_bad_literal(diag_t *err, const char *text, int pos, int len);
/* A hint for a character that is no token (" (use NOT ...)"), or "". */
const char *ps_char_hint(int c);

/* Lemon's entry points (grammar.c). */
void *fsqlParseAlloc(void *(*)(size_t));
void  fsqlParse(void *p, int major, token_t minor, pstate_t *ps);
void  fsqlParseFree(void *p, void (*)(void *));
/* Would the parser in its current state accept token tk (0: the end)?
 * Does not change the parser (grammar.y %code). */
int   fsql_accepts(void *parser, int tk);
/* Terminals the parser in its current state can take: fills ok[0..n)
 * with 1 for acceptable token codes (ok[0]: the end of the statement). */
void  fsql_expected(void *parser, unsigned char *ok, int n);
int   fsql_ntokens(void);

#endif
