-- dns_open_resolvers: DNS servers of the monitored networks answering
-- clients outside them, per minute.
--
-- Shows:   the server, how many outside clients it answered, their
--          queries, its answers and their bytes.
-- Needs:   proto, srcport, dstport, srcip, dstip, bytes; the network set
--          "monitored" (inside).
-- How:     an inside server on port 53 that outside hosts ask and that
--          answers them. A resolver open to the Internet is abused as a
--          reflector in DDoS attacks (many outside "clients", few bytes
--          in, many out).
-- Tune:    your authoritative servers answer the world by design:
--          exclude them (AND NOT (dstip IN (...)) on the query side).
--          Flows cannot tell a recursive answer from an authoritative
--          one. HAVING clients >= N to see only the busy ones.
CREATE QUERY dns_open_resolvers AS
SELECT CASE WHEN srcport = 53 THEN srcip ELSE dstip END AS server,
       approx_count_distinct(CASE WHEN srcport = 53 THEN dstip ELSE srcip END)
           AS clients,
       sum(CASE WHEN dstport = 53 THEN 1 ELSE 0 END) AS queries,
       sum(CASE WHEN srcport = 53 THEN 1 ELSE 0 END) AS answers,
       sum(CASE WHEN srcport = 53 THEN bytes ELSE 0 END) AS bytes
FROM flows WINDOW 1m
WHERE proto IN ('udp', 'tcp')
  AND ((srcport = 53 AND srcip IN monitored AND dstip NOT IN monitored)
       OR (dstport = 53 AND srcip NOT IN monitored AND dstip IN monitored))
GROUP BY server
HAVING queries > 0 AND answers > 0
ORDER BY clients DESC LIMIT 100
