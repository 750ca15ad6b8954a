-- dns_external_resolvers: monitored hosts resolving names through DNS
-- servers outside the monitored networks, per minute.
--
-- Shows:   the client, the outside resolver, the queries it sent and
--          the answers and bytes it got.
-- Needs:   proto, srcport, dstport, srcip, dstip, bytes; the network set
--          "monitored" (inside).
-- How:     a client that asks an outside server on port 53 and gets its
--          answers in the same minute bypasses your resolvers (and their
--          logging and filtering): malware with hard-coded resolvers, a
--          misconfigured host, someone avoiding policy. Answers without
--          queries (reflection) are dns_amplification's business.
-- Tune:    your own resolvers forward to outside servers by design:
--          exclude them (AND NOT (srcip IN (...)) on the query side, or
--          a smaller "monitored" set).
CREATE QUERY dns_external_resolvers AS
SELECT CASE WHEN dstport = 53 THEN srcip ELSE dstip END AS client,
       CASE WHEN dstport = 53 THEN dstip ELSE srcip END AS resolver,
       sum(CASE WHEN dstport = 53 THEN 1 ELSE 0 END) AS queries,
       sum(CASE WHEN srcport = 53 THEN 1 ELSE 0 END) AS answers,
       sum(CASE WHEN srcport = 53 THEN bytes ELSE 0 END) AS bytes
FROM flows WINDOW 1m
WHERE proto IN ('udp', 'tcp')
  AND ((dstport = 53 AND srcip IN monitored AND dstip NOT IN monitored)
       OR (srcport = 53 AND srcip NOT IN monitored AND dstip IN monitored))
GROUP BY client, resolver
HAVING queries > 0 AND answers > 0
