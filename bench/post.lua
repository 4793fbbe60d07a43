-- wrk: the cheapest client for benchmark 3. One static POST, built once, sent
-- on every keep-alive connection: the same method, path, query string length,
-- headers and body size as groupwatch's requests.
wrk.method = "POST"
wrk.body = '{"GroupId":"@TGS#_@TGS#ABCDEFGHIJKL"}'
wrk.headers["Content-Type"] = "application/json"
