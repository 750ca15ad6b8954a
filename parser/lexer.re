/*
 * lexer.re - the flowsql tokenizer, for re2c.
 *
 * Tokens are slices of the statement text (offset + length), never
 * copies, so errors can point at the exact byte. The text is
 * NUL-terminated and parse() has already refused embedded NUL bytes, so
 * NUL is the end sentinel. Keywords are case-insensitive; identifiers
 * keep their case (parse.c folds them).
 */
#include "parser/parse_int.h"

int lex_next(const char *text, int *pos, token_t *tok, diag_t *err)
{
    const unsigned char *s = (const unsigned char *)text;
    const unsigned char *YYCURSOR, *YYMARKER, *start;
    (void)YYMARKER;
again:
    YYCURSOR = s + *pos;
    start = YYCURSOR;
#define TOK(t) do { tok->pos = (int)(start - s); \
                    tok->len = (int)(YYCURSOR - start); \
                    *pos = (int)(YYCURSOR - s); return TK_##t; } while (0)
#define FAIL(...) do { diag_at(err, text, (int)(start - s), \
                               (int)(YYCURSOR - start), __VA_ARGS__); \
                       tok->pos = (int)(start - s); tok->len = 1; \
                       return TK_ILLEGAL; } while (0)
    /*!re2c
    re2c:define:YYCTYPE = "unsigned char";
    re2c:yyfill:enable = 0;

    digit = [0-9];
    hexd  = [0-9a-fA-F];
    idch  = [a-zA-Z0-9_];
    dec   = digit{1,3};
    ipv4  = dec "." dec "." dec "." dec;
    ipv6  = hexd* ":" [0-9a-fA-F:]* ":" [0-9a-fA-F:.]*;

    "\x00"                 { tok->pos = (int)(start - s); tok->len = 0;
                             return 0; }
    [ \t\r\n\f\v]+         { *pos = (int)(YYCURSOR - s); goto again; }
    "--" [^\n\x00]*        { *pos = (int)(YYCURSOR - s); goto again; }
    "/*" ([^*\x00] | "*"+ [^*/\x00])* "*"+ "/"
                           { *pos = (int)(YYCURSOR - s); goto again; }
    "/*"                   { FAIL("unterminated comment"); }

    'select'   { TOK(SELECT); }   'from'     { TOK(FROM); }
    'where'    { TOK(WHERE); }    'group'    { TOK(GROUP); }
    'by'       { TOK(BY); }       'having'   { TOK(HAVING); }
    'order'    { TOK(ORDER); }    'asc'      { TOK(ASC); }
    'desc'     { TOK(DESC); }     'limit'    { TOK(LIMIT); }
    'window'   { TOK(WINDOW); }   'slide'    { TOK(SLIDE); }
    'on'       { TOK(ON); }       'lateness' { TOK(LATENESS); }
    'create'   { TOK(CREATE); }   'query'    { TOK(QUERY); }
    'queries'  { TOK(QUERIES); }  'with'     { TOK(WITH); }
    'as'       { TOK(AS); }       'drop'     { TOK(DROP); }
    'show'     { TOK(SHOW); }     'explain'  { TOK(EXPLAIN); }
    'if'       { TOK(IF); }       'exists'   { TOK(EXISTS); }
    'keep'     { TOK(KEEP); }     'data'     { TOK(DATA); }
    'and'      { TOK(AND); }      'or'       { TOK(OR); }
    'not'      { TOK(NOT); }      'in'       { TOK(IN); }
    'between'  { TOK(BETWEEN); }  'case'     { TOK(CASE); }
    'when'     { TOK(WHEN); }     'then'     { TOK(THEN); }
    'else'     { TOK(ELSE); }     'end'      { TOK(END); }
    'distinct' { TOK(DISTINCT); } 'true'     { TOK(TRUE); }
    'false'    { TOK(FALSE); }    'like'     { TOK(LIKE); }
    'last'     { TOK(LAST); }     'since'    { TOK(SINCE); }
    'until'    { TOK(UNTIL); }    'analyze'  { TOK(ANALYZE); }

    digit+ ("ms" | "s" | "m" | "h" | "d")  { TOK(DURATION); }
    "0" [xX] hexd+                         { TOK(INTEGER); }
    digit+                                 { TOK(INTEGER); }
    digit+ "." digit+ ([eE] [+-]? digit+)? { TOK(FLOAT); }
    digit+ [eE] [+-]? digit+               { TOK(FLOAT); }
    ipv4                                   { TOK(IPV4); }
    ipv4 "/" digit+                        { TOK(CIDR); }
    ipv6                                   { TOK(IPV6); }
    ipv6 "/" digit+                        { TOK(CIDR); }
    /* Longer than any good literal it starts like: "10x", "1.5s",
     * "1.2.3.4.5". Same-length matches go to the rules above. */
    digit [a-zA-Z0-9_.]* idch              { ps_bad_literal(err, text, (int)(start - s),
                                                            (int)(YYCURSOR - start));
                                             tok->pos = (int)(start - s); tok->len = 1;
                                             return TK_ILLEGAL; }

    [a-zA-Z_] idch*                        { TOK(ID); }
    "\"" ([^"\x00] | "\"\"")+ "\""         { TOK(QUOTED_ID); }
    "\"\""                                 { FAIL("empty quoted name"); }
    "\""                                   { FAIL("unterminated quoted name"); }
    "'" ([^'\x00] | "''")* "'"             { TOK(STRING); }
    "'"                                    { FAIL("unterminated string"); }

    "(" { TOK(LP); }     ")" { TOK(RP); }     "," { TOK(COMMA); }
    ";" { TOK(SEMI); }   "*" { TOK(STAR); }   "+" { TOK(PLUS); }
    "-" { TOK(MINUS); }  "/" { TOK(SLASH); }  "%" { TOK(REM); }
    "&" { TOK(BITAND); } "|" { TOK(BITOR); }  "~" { TOK(BITNOT); }
    "=" | "=="  { TOK(EQ); }
    "!=" | "<>" { TOK(NE); }
    "<"  { TOK(LT); }    "<=" { TOK(LE); }
    ">"  { TOK(GT); }    ">=" { TOK(GE); }

    [\x80-\xff]+ { FAIL("unexpected non-ASCII text (only 'strings' and "
                        "\"quoted names\" may hold it)"); }
    *            { if (*start >= 0x20 && *start < 0x7f)
                       FAIL("unexpected character '%c'%s", *start,
                            ps_char_hint(*start));
                   FAIL("unexpected byte 0x%02x", *start); }
    */
}
