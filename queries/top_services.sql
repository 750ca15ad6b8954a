-- top_services: the 10 most used services (protocol and destination
-- port), per minute.
--
-- Shows:   proto name, dstport, flows, bytes and distinct clients, most
--          flows first.
-- Needs:   proto, dstport, srcip, bytes.
-- Tune:    LIMIT; add "AND dstport < 49152" to the WHERE to leave out
--          ephemeral ports answering back.
CREATE QUERY top_services AS
SELECT proto_name(proto) AS protocol, dstport, count(*) AS flows,
       sum(bytes) AS bytes, approx_count_distinct(srcip) AS clients
FROM flows WINDOW 1m
WHERE proto IN ('tcp', 'udp', 'sctp')
GROUP BY protocol, dstport
ORDER BY flows DESC LIMIT 10
