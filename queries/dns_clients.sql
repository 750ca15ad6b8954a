-- dns_clients: which clients ask which resolvers, per minute.
--
-- Shows:   client, resolver, queries and bytes (requests: flows to port
--          53), the 100 busiest pairs. A client using a resolver that is
--          not yours bypasses your DNS policy.
-- Needs:   proto, dstport, srcip, dstip, bytes.
-- Tune:    LIMIT.
CREATE QUERY dns_clients AS
SELECT srcip AS client, dstip AS resolver, count(*) AS queries,
       sum(bytes) AS bytes
FROM flows WINDOW 1m
WHERE proto IN ('udp', 'tcp') AND dstport = 53
GROUP BY srcip, dstip
ORDER BY queries DESC LIMIT 100
