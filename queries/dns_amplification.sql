-- dns_amplification: an unusually high rate of DNS responses to one host
-- (reflection / amplification attacks), per 10 s.
--
-- Shows:   the target, the responses it received, from how many distinct
--          resolvers, and their bytes.
-- Needs:   proto, srcport, srcip, dstip, bytes.
-- How:     in a reflection attack many resolvers send large answers to a
--          victim that never asked: many responses, many resolvers, many
--          bytes per response.
-- Tune:    at least 500 responses in 10 s from at least 10 resolvers.
CREATE QUERY dns_amplification AS
SELECT dstip AS target, count(*) AS responses,
       count(DISTINCT srcip) AS resolvers, sum(bytes) AS bytes
FROM flows WINDOW 10s
WHERE proto = 'udp' AND srcport = 53
GROUP BY dstip
HAVING count(*) >= 500 AND count(DISTINCT srcip) >= 10
