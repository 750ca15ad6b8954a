-- dns_resolvers: the DNS servers the monitored clients use and how many
-- of them each answers, per minute.
--
-- Shows:   the resolver, its distinct clients, the queries it got from
--          them and the responses and bytes it sent them, busiest first
--          (top 20).
-- Needs:   proto, srcport, dstport, srcip, dstip, bytes; the network set
--          "monitored" (the clients).
-- How:     a resolver is a server on port 53 that monitored clients ask
--          (flows to port 53) and that answers them (flows from port 53)
--          in the same minute. Answers nobody asked for - a reflection
--          attack's, or a scanner sending from port 53 to get through
--          firewalls - have no queries and do not make a resolver.
-- Tune:    LIMIT; a resolver you do not know in this list is worth a look.
CREATE QUERY dns_resolvers AS
SELECT CASE WHEN srcport = 53 THEN srcip ELSE dstip END AS resolver,
       approx_count_distinct(CASE WHEN srcport = 53 THEN dstip ELSE srcip END)
           AS clients,
       sum(CASE WHEN dstport = 53 THEN 1 ELSE 0 END) AS queries,
       sum(CASE WHEN srcport = 53 THEN 1 ELSE 0 END) AS responses,
       sum(CASE WHEN srcport = 53 THEN bytes ELSE 0 END) AS bytes
FROM flows WINDOW 1m
WHERE proto IN ('udp', 'tcp')
  AND ((srcport = 53 AND dstip IN monitored)
       OR (dstport = 53 AND srcip IN monitored))
GROUP BY resolver
HAVING queries > 0 AND responses > 0
ORDER BY clients DESC LIMIT 20
