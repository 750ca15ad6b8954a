-- dns_resolvers: the DNS servers in use and how many clients each
-- answers, per minute.
--
-- Shows:   the resolver (the source of DNS responses), its distinct
--          clients, responses and bytes, busiest first (top 20).
-- Needs:   proto, srcport, srcip, dstip, bytes. Responses are flows from
--          port 53 (UDP and TCP).
-- Tune:    LIMIT; a resolver you do not know in this list is worth a look.
CREATE QUERY dns_resolvers AS
SELECT srcip AS resolver, approx_count_distinct(dstip) AS clients,
       count(*) AS responses, sum(bytes) AS bytes
FROM flows WINDOW 1m
WHERE proto IN ('udp', 'tcp') AND srcport = 53
GROUP BY srcip
ORDER BY clients DESC LIMIT 20
