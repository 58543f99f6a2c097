"""Drives one signed-in browser for benches/instructions/measure.sh: `login`, or N rounds of
/dashboard and /account/sessions with the saved cookies."""
import http.client, re, sys, time, urllib.parse
port=int(sys.argv[1]); n=int(sys.argv[2]); phase=sys.argv[3]
c=http.client.HTTPConnection("127.0.0.1",port,timeout=120)
jar={}
def req(method,path,body=None):
    h={"Host":f"127.0.0.1:{port}"}
    if jar: h["Cookie"]="; ".join(f"{k}={v}" for k,v in jar.items())
    if body is not None:
        h["Content-Type"]="application/x-www-form-urlencoded"; h["Origin"]=f"http://127.0.0.1:{port}"
    c.request(method,path,body=body,headers=h)
    r=c.getresponse(); data=r.read()
    for k,v in r.getheaders():
        if k.lower()=="set-cookie":
            name,val=v.split(";")[0].split("=",1); jar[name]=val
    return r.status,data.decode("utf-8","replace")
if phase=="login":
    s,b=req("GET","/login")
    tok=re.search(r'name="csrf_token" value="([^"]+)"',b).group(1)
    s,b=req("POST","/login",urllib.parse.urlencode({"email":"ir@example.com","password":"correct horse battery staple 42","csrf_token":tok,"next":""}))
    assert s==303,(s,b[:300])
    open("jar.txt","w").write(repr(jar))
else:
    jar.update(eval(open("jar.txt").read()))
    for i in range(n):
        s,b=req("GET","/dashboard")
        assert s==200,(s,b[:200])
        s,b=req("GET","/account/sessions")
        assert s==200,(s,b[:200])
    print("ok",n)
