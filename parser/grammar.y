/*
 * grammar.y - the flowsql grammar, for lemon.
 *
 * Actions are one-line calls into constructors; every node lives in the
 * statement's arena (parse.c), so no %destructor is needed: an error half
 * way through frees everything with the arena. The first syntax error
 * ends the statement (parse.c stops feeding tokens).
 */
%name fsqlParse
%token_prefix TK_
%token_type {token_t}
%extra_argument {pstate_t *ps}
%stack_size 400
%include {
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "parser/parse_int.h"
}
%syntax_error { ps->lemon_refused = 1;
                ps_syntax_error(ps, yymajor, TOKEN, yypParser); }
%stack_overflow { ps_overflow(ps); }

/* Keywords that may also be field or query names. */
%fallback ID QUERY QUERIES WINDOW SLIDE LATENESS KEEP DATA SHOW EXPLAIN END
             ON LAST SINCE UNTIL ANALYZE.

%left OR.
%left AND.
%right NOT.
%left BETWEEN IN.
%nonassoc EQ NE LT LE GT GE LIKE.
%left BITOR.
%left BITAND.
%left PLUS MINUS.
%left STAR SLASH REM.
%right BITNOT.

%token ILLEGAL.

input ::= cmd opt_semi.
opt_semi ::= .
opt_semi ::= SEMI.

cmd ::= select(S).                    { ps->stmt = ps_stmt(ps, STMT_SELECT); ps->stmt->select = S; }
cmd ::= create.
cmd ::= drop.
cmd ::= show.
cmd ::= EXPLAIN explainable.          { ps_explain(ps, 0); }
cmd ::= EXPLAIN ANALYZE explainable.  { ps_explain(ps, 1); }

explainable ::= select(S).            { ps->stmt = ps_stmt(ps, STMT_SELECT); ps->stmt->select = S; }
explainable ::= create.
explainable ::= drop.
explainable ::= show.

show ::= SHOW QUERIES.                { ps->stmt = ps_stmt(ps, STMT_SHOW); }

create ::= createhead AS select(S).   { ps->stmt->select = S; }
createhead ::= CREATE QUERY ifnotexists(E) nm(N) opt_with.
                                      { ps_create(ps, N, E); }
%type ifnotexists {int}
ifnotexists(A) ::= .                  { A = 0; }
ifnotexists(A) ::= IF NOT EXISTS.     { A = 1; }

opt_with ::= .
opt_with ::= WITH LP optlist RP.
optlist ::= option.
optlist ::= optlist COMMA option.
option ::= nm(K) EQ optval(V).        { ps_option(ps, K, V); }
optval(A) ::= STRING(X).              { A = X; }
optval(A) ::= INTEGER(X).             { A = X; }
optval(A) ::= DURATION(X).            { A = X; }
optval(A) ::= FLOAT(X).               { A = X; }
optval(A) ::= nm(X).                  { A = X; }
optval(A) ::= TRUE(X).                { A = X; }
optval(A) ::= FALSE(X).               { A = X; }

drop ::= DROP QUERY ifexists(E) nm(N) keep(K).
                                      { ps_drop(ps, N, E, K); }
%type ifexists {int}
ifexists(A) ::= .                     { A = 0; }
ifexists(A) ::= IF EXISTS.            { A = 1; }
%type keep {int}
keep(A) ::= .                         { A = 0; }
keep(A) ::= KEEP DATA.                { A = 1; }

%type nm {token_t}
nm(A) ::= ID(X).                      { A = X; }
nm(A) ::= QUOTED_ID(X).               { A = X; }

/* ---- SELECT ----------------------------------------------------------- */

%type select {select_t *}
select(A) ::= selhead sellist FROM nm(F) range clauses groupby having orderby limit.
                                      { A = ps->sel; ps_from(ps, F); }
selhead ::= SELECT(T).                { ps_select_begin(ps, T); }

sellist ::= selitem.
sellist ::= sellist COMMA selitem.
selitem ::= expr(E).                  { ps_item(ps, E, NULL); }
selitem ::= expr(E) AS nm(N).         { ps_item(ps, E, &N); }
selitem ::= expr(E) nm(N).            { ps_item(ps, E, &N); }

/* FROM flows LAST d | SINCE 'time' [UNTIL 'time'] | BETWEEN 'time' AND 'time':
 * the received times a query over the archive reads. */
range ::= .
range ::= LAST(K) DURATION(D).        { ps_range_last(ps, K, D); }
range ::= SINCE(K) STRING(T) until.   { ps_range_since(ps, K, T); }
range ::= BETWEEN(K) STRING(X) AND STRING(Y).
                                      { ps_range_between(ps, K, X, Y); }
until ::= .
until ::= UNTIL(K) STRING(T).         { ps_range_until(ps, K, T); }

clauses ::= .
clauses ::= where.
clauses ::= window.
clauses ::= where window.
clauses ::= window where.

where ::= WHERE expr(E).              { ps->sel->where = E; }

window ::= WINDOW(W) DURATION(S) slide timeon lateness.
                                      { ps_window(ps, W, S); }
slide ::= .
slide ::= SLIDE DURATION(S).          { ps_slide(ps, S); }
timeon ::= .
timeon ::= ON nm(F).                  { ps_window_on(ps, F); }
lateness ::= .
lateness ::= LATENESS(K) DURATION(L).{ ps_lateness(ps, K, L); }

groupby ::= .
groupby ::= GROUP BY grouplist.
grouplist ::= expr(E).                { ps_group(ps, E); }
grouplist ::= grouplist COMMA expr(E).{ ps_group(ps, E); }

having ::= .
having ::= HAVING(K) expr(E).         { ps_having(ps, K, E); }

orderby ::= .
orderby ::= ORDER BY orderlist.
orderlist ::= orderitem.
orderlist ::= orderlist COMMA orderitem.
orderitem ::= expr(E) dir(D).         { ps_order(ps, E, D); }
%type dir {int}
dir(A) ::= .                          { A = 0; }
dir(A) ::= ASC.                       { A = 0; }
dir(A) ::= DESC.                      { A = 1; }

limit ::= .
limit ::= LIMIT INTEGER(N).           { ps_limit(ps, N); }

/* ---- expressions -------------------------------------------------------- */

%type expr {ast_t *}
%type term {ast_t *}
%type exprlist {ast_list_t *}
%type caselist {ast_list_t *}
%type caseelse {ast_t *}
%type caseop {ast_t *}

expr(A) ::= term(X).                  { A = X; }
expr(A) ::= LP expr(X) RP.            { A = X; }
expr(A) ::= nm(N).                    { A = ps_column(ps, N); }
expr(A) ::= ID(N) LP RP(R).           { A = ps_func(ps, N, NULL, 0, R); }
expr(A) ::= ID(N) LP exprlist(L) RP(R).
                                      { A = ps_func(ps, N, L, 0, R); }
expr(A) ::= ID(N) LP DISTINCT exprlist(L) RP(R).
                                      { A = ps_func(ps, N, L, 1, R); }
expr(A) ::= ID(N) LP STAR(S) RP(R).   { A = ps_func_star(ps, N, S, R); }

expr(A) ::= expr(X) AND(O) expr(Y).   { A = ps_bin(ps, OP_AND, X, Y, O); }
expr(A) ::= expr(X) OR(O) expr(Y).    { A = ps_bin(ps, OP_OR, X, Y, O); }
expr(A) ::= expr(X) EQ(O) expr(Y).    { A = ps_bin(ps, OP_EQ, X, Y, O); }
expr(A) ::= expr(X) NE(O) expr(Y).    { A = ps_bin(ps, OP_NE, X, Y, O); }
expr(A) ::= expr(X) LT(O) expr(Y).    { A = ps_bin(ps, OP_LT, X, Y, O); }
expr(A) ::= expr(X) LE(O) expr(Y).    { A = ps_bin(ps, OP_LE, X, Y, O); }
expr(A) ::= expr(X) GT(O) expr(Y).    { A = ps_bin(ps, OP_GT, X, Y, O); }
expr(A) ::= expr(X) GE(O) expr(Y).    { A = ps_bin(ps, OP_GE, X, Y, O); }
expr(A) ::= expr(X) PLUS(O) expr(Y).  { A = ps_bin(ps, OP_ADD, X, Y, O); }
expr(A) ::= expr(X) MINUS(O) expr(Y). { A = ps_bin(ps, OP_SUB, X, Y, O); }
expr(A) ::= expr(X) STAR(O) expr(Y).  { A = ps_bin(ps, OP_MUL, X, Y, O); }
expr(A) ::= expr(X) SLASH(O) expr(Y). { A = ps_bin(ps, OP_DIV, X, Y, O); }
expr(A) ::= expr(X) REM(O) expr(Y).   { A = ps_bin(ps, OP_MOD, X, Y, O); }
expr(A) ::= expr(X) BITAND(O) expr(Y).{ A = ps_bin(ps, OP_BITAND, X, Y, O); }
expr(A) ::= expr(X) BITOR(O) expr(Y). { A = ps_bin(ps, OP_BITOR, X, Y, O); }
expr(A) ::= MINUS(O) expr(X). [BITNOT]{ A = ps_un(ps, OP_NEG, X, O); }
expr(A) ::= PLUS expr(X). [BITNOT]    { A = X; }
expr(A) ::= BITNOT(O) expr(X).        { A = ps_un(ps, OP_BITNOT, X, O); }
expr(A) ::= NOT(O) expr(X).           { A = ps_un(ps, OP_NOT, X, O); }

%type in_op {int}
in_op(A) ::= IN.                      { A = 0; }
in_op(A) ::= NOT IN.                  { A = 1; }
expr(A) ::= expr(X) in_op(N) LP(P) exprlist(L) RP. [IN]
                                      { A = ps_in(ps, X, L, NULL, N, P); }
expr(A) ::= expr(X) in_op(N) CIDR(C). [IN]
                                      { A = ps_in(ps, X, NULL, ps_literal(ps, TK_CIDR, C), N, C); }
expr(A) ::= expr(X) in_op(N) nm(S). [IN]
                                      { A = ps_in_set(ps, X, S, N); }

expr(A) ::= expr(X) LIKE(O) expr(Y).  { A = ps_bin(ps, OP_LIKE, X, Y, O); }
expr(A) ::= expr(X) NOT LIKE(O) expr(Y). [LIKE]
                                      { A = ps_bin(ps, OP_NOT_LIKE, X, Y, O); }

%type between_op {int}
between_op(A) ::= BETWEEN.            { A = 0; }
between_op(A) ::= NOT BETWEEN.        { A = 1; }
expr(A) ::= expr(X) between_op(N) expr(Y) AND(O) expr(Z). [BETWEEN]
                                      { A = ps_between(ps, X, Y, Z, N, O); }

expr(A) ::= CASE(C) caseop(O) caselist(L) caseelse(E) END.
                                      { A = ps_case(ps, O, L, E, C); }
caseop(A) ::= .                       { A = NULL; }
caseop(A) ::= expr(X).                { A = X; }
caselist(A) ::= WHEN expr(X) THEN expr(Y).
                                      { A = ps_list(ps, NULL, X); A = ps_list(ps, A, Y); }
caselist(A) ::= caselist(L) WHEN expr(X) THEN expr(Y).
                                      { A = ps_list(ps, L, X); A = ps_list(ps, A, Y); }
caseelse(A) ::= .                     { A = NULL; }
caseelse(A) ::= ELSE expr(X).         { A = X; }

exprlist(A) ::= expr(X).              { A = ps_list(ps, NULL, X); }
exprlist(A) ::= exprlist(L) COMMA expr(X).
                                      { A = ps_list(ps, L, X); }

term(A) ::= INTEGER(X).               { A = ps_literal(ps, TK_INTEGER, X); }
term(A) ::= FLOAT(X).                 { A = ps_literal(ps, TK_FLOAT, X); }
term(A) ::= STRING(X).                { A = ps_literal(ps, TK_STRING, X); }
term(A) ::= DURATION(X).              { A = ps_literal(ps, TK_DURATION, X); }
term(A) ::= IPV4(X).                  { A = ps_literal(ps, TK_IPV4, X); }
term(A) ::= IPV6(X).                  { A = ps_literal(ps, TK_IPV6, X); }
term(A) ::= CIDR(X).                  { A = ps_literal(ps, TK_CIDR, X); }
term(A) ::= TRUE(X).                  { A = ps_literal(ps, TK_TRUE, X); }
term(A) ::= FALSE(X).                 { A = ps_literal(ps, TK_FALSE, X); }

%code {
/* Would the parser, in its current state, accept token tk? Simulates the
 * reductions lemon would make (default ones included) on a read-only view
 * of the stack plus a small overlay of the states the simulated
 * reductions push, until tk is shifted or refused. The driver asks before
 * every token, so a syntax error is reported from the state that saw the
 * bad token, not after lemon has reduced the stack away; the same
 * simulation lists what was expected. Cost: the reductions the parser
 * makes anyway. */
int fsql_ntokens(void) { return YYNTOKEN; }

int fsql_accepts(void *p, int tk)
{
    const yyParser *parser = p;
    YYACTIONTYPE over[128];
    int k = (int)(parser->yytos - parser->yystack) + 1; /* stack entries */
    int m = 0;                                          /* overlay entries */
    if (tk < 0 || tk >= YYNTOKEN || tk == TK_ILLEGAL)
        return 0;
    for (int guard = 0; guard < 4096; guard++) {
        YYACTIONTYPE top = m ? over[m - 1] : parser->yystack[k - 1].stateno;
        YYACTIONTYPE act = yy_find_shift_action((YYCODETYPE)tk, top);
        if (act >= YY_MIN_REDUCE && act < YY_MIN_REDUCE + YYNRULE) {
            int rule = act - YY_MIN_REDUCE;
            int n = -yyRuleInfoNRhs[rule];
            if (m >= n) {
                m -= n;
            } else {
                k -= n - m;
                m = 0;
            }
            if (k < 1 || m >= (int)(sizeof(over) / sizeof(over[0])))
                return 0;
            top = m ? over[m - 1] : parser->yystack[k - 1].stateno;
            over[m++] = yy_find_reduce_action(top, yyRuleInfoLhs[rule]);
            continue;
        }
        return act <= YY_MAX_SHIFTREDUCE || act == YY_ACCEPT_ACTION;
    }
    return 0;
}

void fsql_expected(void *p, unsigned char *ok, int n)
{
    for (int t = 0; t < YYNTOKEN && t < n; t++)
        ok[t] = (unsigned char)fsql_accepts(p, t);
}
}
