-- blocklist_hits: traffic to or from the addresses of a blocklist, per
-- minute.
--
-- Shows:   the listed address, the other side, which way the traffic
--          went (way: 'to' or 'from' the listed address), the flows,
--          packets and bytes.
-- Needs:   srcip, dstip, packets, bytes; the network set "blocklist"
--          (empty unless you fill it:
--          --network-sets 'blocklist=@/etc/flowsql/blocklist.txt',
--          a file of addresses and networks, one or more a line, '#'
--          comments; millions of entries are fine). The file is read
--          again within a second of each change, without a restart.
-- How:     a blocklist (a threat feed's C2 servers, scanners, Tor exits,
--          your own deny list) names addresses no host of yours should
--          talk to; any flow from or to one is worth a look.
-- Tune:    the list itself; AND srcip IN monitored (or dstip) to keep
--          only your hosts' side.
CREATE QUERY blocklist_hits AS
SELECT CASE WHEN dstip IN blocklist THEN dstip ELSE srcip END AS listed,
       CASE WHEN dstip IN blocklist THEN srcip ELSE dstip END AS peer,
       CASE WHEN dstip IN blocklist THEN 'to' ELSE 'from' END AS way,
       count(*) AS flows, sum(packets) AS packets, sum(bytes) AS bytes
FROM flows WINDOW 1m
WHERE srcip IN blocklist OR dstip IN blocklist
GROUP BY listed, peer, way
