-- reflection_ddos: a monitored host flooded with answers of a UDP
-- service it never asked, from many reflectors, per 10 s.
--
-- Shows:   the target, the service abused, the reflectors, flows,
--          packets and bytes.
-- Needs:   proto, srcport, srcip, dstip, packets, bytes; the network set
--          "monitored".
-- How:     reflection/amplification attacks send small spoofed queries
--          to open servers, whose large answers converge on the victim
--          from their service port: DNS (53), NTP (123, monlist), SSDP
--          (1900), memcached (11211), CLDAP (389) and chargen (19). Many
--          reflectors and many bytes toward one host from one of these
--          source ports is the signature; dns_amplification is the DNS
--          case by answer count.
-- Tune:    at least 10 reflectors and 1,000,000 bytes in 10 s (800
--          kbit/s); raise the bytes for large links.
CREATE QUERY reflection_ddos AS
SELECT dstip AS target,
       CASE srcport WHEN 53 THEN 'dns' WHEN 123 THEN 'ntp'
                    WHEN 1900 THEN 'ssdp' WHEN 11211 THEN 'memcached'
                    WHEN 389 THEN 'cldap' ELSE 'chargen' END AS service,
       count(DISTINCT srcip) AS reflectors, count(*) AS flows,
       sum(packets) AS packets, sum(bytes) AS bytes
FROM flows WINDOW 10s
WHERE proto = 'udp' AND srcport IN (19, 53, 123, 389, 1900, 11211)
  AND dstip IN monitored
GROUP BY target, service
HAVING count(DISTINCT srcip) >= 10 AND sum(bytes) >= 1000000
