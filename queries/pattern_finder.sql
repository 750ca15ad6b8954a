-- pattern_finder: connections of one configured shape, repeated - a
-- command-and-control beacon, a worm's probes, a known tool's
-- handshake - per 5 minutes.
--
-- Shows:   the source, the destination and port, how many flows had the
--          shape, their bytes and their longest duration.
-- Needs:   proto, srcip, dstip, dstport, packets, bytes, duration.
-- How:     Stream4Flow's pattern finder matched flows against a
--          configured shape (ports, packet and byte ranges, durations)
--          and reported who repeated it. Here the shape is this file's
--          WHERE and the repetition its HAVING: edit both, or copy the
--          file once per pattern under another name. The shipped
--          pattern: short TCP connections of 3-10 packets and 120-600
--          bytes to the ports of common remote-access tools and
--          reverse shells (4444, 5555, 6666, 1337, 31337), at least 10
--          of them between one pair in 5 minutes: a beacon, not a user.
-- Tune:    the ports, the ranges, the count.
CREATE QUERY pattern_finder AS
SELECT srcip, dstip, dstport, count(*) AS matches, sum(bytes) AS bytes,
       max(duration) AS longest
FROM flows WINDOW 5m
WHERE proto = 'tcp' AND dstport IN (4444, 5555, 6666, 1337, 31337)
  AND packets >= 3 AND packets <= 10
  AND bytes >= 120 AND bytes <= 600
  AND duration < 5s
GROUP BY srcip, dstip, dstport
HAVING count(*) >= 10
