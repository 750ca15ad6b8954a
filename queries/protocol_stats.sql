-- protocol_stats: flows, packets and bytes per protocol, every 10 s.
--
-- Shows:   one row per protocol class seen in the window: tcp, udp, icmp
--          (ICMP and ICMPv6) and other.
-- Needs:   proto, packets, bytes (every exporter sends them).
-- Tune:    the window (10s) for coarser or finer statistics; split "other"
--          by adding classes to the CASE (e.g. WHEN proto = 'gre').
CREATE QUERY protocol_stats AS
SELECT CASE WHEN proto = 'tcp' THEN 'tcp'
            WHEN proto = 'udp' THEN 'udp'
            WHEN proto IN ('icmp', 'icmp6') THEN 'icmp'
            ELSE 'other' END AS protocol,
       count(*) AS flows,
       sum(packets) AS packets,
       sum(bytes) AS bytes
FROM flows WINDOW 10s
GROUP BY protocol
