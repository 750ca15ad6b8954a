SELECT srcip,
       count(*) AS flows
  FROM flows
 WINDOW 1h
 GROUP BY srcip
 -- comment
 ORDER BY flows DESC /* block */ LIMIT 5