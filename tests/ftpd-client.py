# SPDX-License-Identifier: MIT
# The ftplib side of tests/test-ftpd.sh: python3 ftpd-client.py PORT ROOT CHECK
# prints "ok: ..." or "FAIL: ..." lines and exits 1 on any failure. Every
# wait is bounded (socket timeouts), so a hung server fails, never hangs.
import ftplib
import hashlib
import io
import os
import socket
import sys
import threading
import time

port, root, check = int(sys.argv[1]), sys.argv[2], sys.argv[3]
HOST = '127.0.0.1'
failed = False


def ok(msg):
    print('ok: ' + msg)


def bad(msg):
    global failed
    failed = True
    print('FAIL: ' + msg)


def expect(cond, msg):
    (ok if cond else bad)(msg)


def conn(user='anonymous', pw='x@y', timeout=20):
    f = ftplib.FTP(timeout=timeout)
    f.connect(HOST, port)
    f.login(user, pw)
    return f


def code_of(f, cmd):
    try:
        return f.sendcmd(cmd)[:3]
    except ftplib.all_errors as e:
        return str(e)[:3]


def traversal():
    f = conn('alice', 'secret')
    for p in ('../secret.txt', '/../secret.txt', '../../secret.txt', 'escape',
              'etcpw', 'sub/../../secret.txt', '%2e%2e/secret.txt',
              '..%2fsecret.txt', '/./../secret.txt', 'absdir/x'):
        buf = io.BytesIO()
        try:
            f.retrbinary('RETR ' + p, buf.write)
            got = buf.getvalue()
        except ftplib.all_errors:
            got = b''
        expect(b'secret outside' not in got and b'root:' not in got,
               'RETR %s does not leave the root' % p)
    f.cwd('..')
    f.cwd('../..')
    expect(f.pwd() == '/', 'CWD .. stops at the root (PWD %s)' % f.pwd())
    expect(code_of(f, 'CWD outlink') == '550', 'CWD into a symlink out of the root: 550')
    expect(code_of(f, 'SIZE escape') == '550', 'SIZE through a symlink out: 550')
    expect(code_of(f, 'SITE CHMOD 777 escape') == '550', 'SITE CHMOD through a symlink out: 550')
    expect(code_of(f, 'MFMT 20000101000000 escape') == '550', 'MFMT through a symlink out: 550')
    outside = os.path.dirname(root.rstrip('/'))
    mode = os.stat(os.path.join(outside, 'secret.txt')).st_mode
    try:
        f.storbinary('STOR ../evil.txt', io.BytesIO(b'evil'))
    except ftplib.all_errors:
        pass
    try:
        f.storbinary('STOR outlink/evil2.txt', io.BytesIO(b'evil'))
    except ftplib.all_errors:
        pass
    f.sendcmd('RNFR 1k.bin')
    code = code_of(f, 'RNTO outlink/stolen')
    code_of(f, 'MKD outlink/newdir')
    expect(not os.path.exists(os.path.join(outside, 'evil.txt')) and
           not os.path.exists(os.path.join(outside, 'out', 'evil2.txt')) and
           not os.path.exists(os.path.join(outside, 'out', 'stolen')) and
           not os.path.exists(os.path.join(outside, 'out', 'newdir')) and
           os.path.exists(os.path.join(root, '1k.bin')),
           'STOR, RNTO, MKD cannot write outside the root (RNTO: %s)' % code)
    expect(os.path.exists(os.path.join(root, 'evil.txt')),
           'STOR ../evil.txt lands inside the root')
    os.unlink(os.path.join(root, 'evil.txt'))
    expect(os.stat(os.path.join(outside, 'secret.txt')).st_mode == mode,
           'the target outside keeps its mode')
    f.quit()


def listing():
    f = conn()
    names = f.nlst('many')
    expect(len(names) == 10000, 'NLST of 10,000 entries: %d' % len(names))
    facts = list(f.mlsd('many'))
    expect(len(facts) == 10000 and all(x[1].get('type') == 'file' for x in facts),
           'MLSD of 10,000 entries: %d' % len(facts))
    lines = []
    f.retrlines('LIST many', lines.append)
    expect(len(lines) == 10000 and all(x.startswith('-rw') for x in lines),
           'LIST of 10,000 entries: %d' % len(lines))
    # every entry once, as lstat(2) has it (the lines go out in batches)
    want = set(os.listdir(os.path.join(root, 'many')))
    expect(set(x[0] for x in facts) == want and set(x.split()[-1] for x in lines) == want,
           'MLSD and LIST name each entry once')
    got = {n: x for n, x in f.mlsd('')}
    sizes_ok = True
    for n in os.listdir(root):
        st = os.lstat(os.path.join(root, n))
        kind = 'dir' if os.path.isdir(os.path.join(root, n)) and \
            not os.path.islink(os.path.join(root, n)) else \
            'file' if os.path.isfile(os.path.join(root, n)) and \
            not os.path.islink(os.path.join(root, n)) else 'OS.unix=other'
        x = got.get(n)
        if '\n' in n or '\r' in n:
            continue
        if x is None or x.get('type') != kind or \
                (kind == 'file' and int(x.get('size', -1)) != st.st_size):
            sizes_ok = False
            bad('MLSD of the root: %s: %r, lstat says %s, %d bytes' % (n, x, kind, st.st_size))
    expect(sizes_ok and len(got) == len([n for n in os.listdir(root)
                                         if '\n' not in n and '\r' not in n]),
           'MLSD of the root: types and sizes as lstat has them (%d entries)' % len(got))
    f.quit()


def abor():
    f = conn()
    f.voidcmd('TYPE I')
    c = f.transfercmd('RETR 100m.bin')
    got = 0
    while got < (1 << 20):
        b = c.recv(65536)
        if not b:
            break
        got += len(b)
    first = f.abort()        # ABOR sent as urgent data, as ftplib does
    c.close()
    second = f.getresp()
    expect(first[:3] == '426' and second[:3] == '226',
           'ABOR in a 100 MiB RETR: %s then %s' % (first[:3], second[:3]))
    expect(f.sendcmd('NOOP')[:3] == '200', 'ABOR: exactly one reply pair (next is NOOP 200)')
    buf = io.BytesIO()
    f.retrbinary('RETR 1k.bin', buf.write)
    r = f.sendcmd('ABOR')
    expect(r[:3] == '226' and f.sendcmd('NOOP')[:3] == '200',
           'ABOR after the transfer: %s alone' % r[:3])
    f.quit()


def slow():
    # a client that starts a 100 MiB RETR and never reads
    s = conn()
    s.voidcmd('TYPE I')
    c = s.transfercmd('RETR 100m.bin')
    t0 = time.monotonic()
    # the server answers others meanwhile
    for i in range(3):
        g = conn()
        buf = io.BytesIO()
        g.retrbinary('RETR 1k.bin', buf.write)
        g.quit()
        expect(len(buf.getvalue()) == 1024, 'another client is served while one stalls (%d)' % i)
    s.sock.settimeout(60)
    try:
        r = s.getresp()
    except ftplib.all_errors as e:
        r = str(e)
    el = time.monotonic() - t0
    expect(r[:3] == '426' and el < 60, 'the stalled transfer is cut: %s after %.1f s' % (r[:3], el))
    c.close()
    s.close()


def clients200():
    res = [None] * 200
    def one(i):
        try:
            f = conn(timeout=60)
            buf = io.BytesIO()
            f.retrbinary('RETR 1k.bin', buf.write)
            res[i] = hashlib.sha256(buf.getvalue()).hexdigest()
            f.quit()
        except Exception as e:
            res[i] = 'error ' + str(e)
    want = hashlib.sha256(open(os.path.join(root, '1k.bin'), 'rb').read()).hexdigest()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    n = sum(1 for r in res if r == want)
    expect(n == 200, '200 clients at once: %d byte-exact' % n)


def raw_cmds(lines, timeout=10):
    s = socket.create_connection((HOST, port), timeout=timeout)
    f = s.makefile('rb')
    f.readline()
    out = []
    for line in lines:
        s.sendall(line)
        r = f.readline()
        while r[3:4] == b'-':
            r = f.readline()
        out.append(r.decode('latin-1').strip())
    return s, f, out


def badcmds():
    s, f, out = raw_cmds([b'XYZZY\r\n', b'RETR 1k.bin\r\n', b'PASS x\r\n',
                          b'USER anonymous\r\n', b'PASS x\r\n', b'STOR x\r\n',
                          b'RNTO b\r\n', b'TYPE Q\r\n', b'REST abc\r\n',
                          b'PORT 10,0,0,1,100,100\r\n', b'PORT 127,0,0,1,0,21\r\n',
                          b'EPRT |1|10.0.0.1|5000|\r\n', b'CWD\r\n', b'RETR 1k.bin\r\n',
                          b'NO\x00OP\r\n', b'noop\r\n', b'SITE EXEC ls\r\n',
                          b'USER ' + b'u' * 100 + b'\r\n'])
    want = ['502', '530', '503', '331', '230', '550', '550', '504', '501', '500', '500',
            '500', '501', '425', '501', '200', '502', '501']
    got = [o[:3] for o in out]
    expect(got == want, 'bad commands: %s' % ' '.join(got))
    s.sendall(b'NOOP ' + b'x' * 3000 + b'\r\n')
    r = f.readline()
    rest = f.read()
    expect(r[:3] == b'500' and rest == b'', 'a too long command: %s, then closed' % r[:3])
    s.close()
    # ro user and wrong password
    s, f, out = raw_cmds([b'USER bob\r\n', b'PASS wrong\r\n', b'USER nobody\r\n',
                          b'PASS secret\r\n', b'USER bob\r\n', b'PASS secret\r\n',
                          b'MKD zz\r\n', b'DELE 1k.bin\r\n'])
    expect([o[:3] for o in out] == ['331', '530', '331', '530', '331', '230', '550', '550'],
           'users file: wrong password, unknown user, ro user: %s' %
           ' '.join(o[:3] for o in out))
    s.close()


def idle():
    s, f, out = raw_cmds([b'USER anonymous\r\n', b'PASS x\r\n'], timeout=60)
    t0 = time.monotonic()
    r = f.readline()
    el = time.monotonic() - t0
    expect(r[:3] == b'421' and el < 60, 'an idle session is closed: %s after %.1f s' % (r[:3], el))
    s.close()


def pasv_unused():
    s, f, out = raw_cmds([b'USER anonymous\r\n', b'PASS x\r\n', b'PASV\r\n'], timeout=30)
    p = out[2].split('(')[1].split(')')[0].split(',')
    pport = int(p[4]) * 256 + int(p[5])
    deadline = time.monotonic() + 30
    refused = False
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, pport), timeout=2).close()
            time.sleep(0.5)
            s.sendall(b'NOOP\r\n')
            f.readline()
        except OSError:
            refused = True
            break
    expect(refused, 'an unused passive listener closes after its deadline')
    s.close()


def per_ip():
    socks = [socket.create_connection((HOST, port), timeout=10) for _ in range(3)]
    greet = [x.makefile('rb').readline()[:3] for x in socks]
    expect(sorted(greet) == [b'220', b'220', b'421'], '--max-per-ip 2: %s' % greet)
    for x in socks:
        x.close()


def ascii_mode():
    f = conn('alice', 'secret')
    # storlines sends TYPE A and CR LF line ends
    f.storlines('STOR ascii.txt', io.BytesIO(b'a\nb\n\nc\rd\n'))
    data = open(os.path.join(root, 'ascii.txt'), 'rb').read()
    expect(data == b'a\nb\n\nc\rd\n', 'TYPE A STOR: CR LF to LF (%r)' % data)
    f.voidcmd('TYPE A')
    c = f.transfercmd('RETR ascii.txt')
    got = b''
    while True:
        b = c.recv(65536)
        if not b:
            break
        got += b
    c.close()
    f.voidresp()
    expect(got == b'a\r\nb\r\n\r\nc\rd\r\n', 'TYPE A RETR: LF to CR LF (%r)' % got)
    f.voidcmd('TYPE I')
    c, _ = f.ntransfercmd('STOU')
    c.sendall(b'unique')
    c.close()
    r = f.voidresp()
    names = [n for n in os.listdir(root) if n.startswith('stou.')]
    expect(r[:3] == '226' and len(names) == 1 and
           open(os.path.join(root, names[0]), 'rb').read() == b'unique', 'STOU: %s' % names)
    for n in names + ['ascii.txt']:
        f.delete(n)
    expect(f.sendcmd('MFMT 20200102030405 1k.bin')[:3] == '213' and
           f.sendcmd('MDTM 1k.bin') == '213 20200102030405', 'MFMT then MDTM')
    expect(f.sendcmd('SITE CHMOD 640 1k.bin')[:3] == '200' and
           os.stat(os.path.join(root, '1k.bin')).st_mode & 0o777 == 0o640, 'SITE CHMOD 640')
    f.sendcmd('SITE CHMOD 644 1k.bin')
    m = f.sendcmd('MLST 1k.bin')
    expect('type=file;size=1024;' in m, 'MLST: %s' % m.splitlines()[1].strip())
    expect(f.sendcmd('SIZE 1k.bin') == '213 1024', 'SIZE')
    feat = f.sendcmd('FEAT')
    expect(all(x in feat for x in ('EPSV', 'MLST', 'REST STREAM', 'SIZE', 'UTF8')), 'FEAT')
    expect(f.sendcmd('OPTS UTF8 ON')[:3] == '200' and f.sendcmd('SYST')[:3] == '215',
           'OPTS UTF8, SYST')
    # PORT: the data connection goes out to us
    f.set_pasv(False)
    buf = io.BytesIO()
    f.retrbinary('RETR 1k.bin', buf.write)
    expect(len(buf.getvalue()) == 1024, 'RETR over PORT/EPRT')
    for cmd in ('RETR fifo', 'STOR fifo'):
        t0 = time.monotonic()
        try:
            f.retrbinary(cmd, io.BytesIO().write) if cmd[0] == 'R' else \
                f.storbinary(cmd, io.BytesIO(b'x'))
            r = 'accepted'
        except ftplib.all_errors as e:
            r = str(e)
        expect(r[:3] == '550' and time.monotonic() - t0 < 10, '%s: %s' % (cmd, r[:3]))
    f.quit()


def fsync_stor():
    f = conn('alice', 'secret')
    f.storbinary('STOR synced.bin', io.BytesIO(b's' * 100000))
    f.delete('synced.bin')
    f.quit()
    ok('STOR with --fsync')


def flood():
    # pipelined commands from a client that starts reading only after a
    # while, so the replies back up in the server: every one answered, in
    # order, nothing lost or cut
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # back up sooner
    s.settimeout(60)
    s.connect((HOST, port))
    f = s.makefile('rb')
    f.readline()
    n = 20000
    data = b'USER anonymous\r\nPASS x\r\n' + b'NOOP\r\nMLST /1k.bin\r\n' * n + b'QUIT\r\n'
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    time.sleep(2)
    codes = []
    while True:
        r = f.readline()
        if not r:
            break
        if r[3:4] == b' ':
            codes.append(r[:3])
    sender.join(60)
    want = [b'331', b'230'] + [b'200', b'250'] * n + [b'221']
    expect(codes == want, '%d pipelined commands, all answered in order (%d replies)' %
           (2 * n + 3, len(codes)))
    s.close()
    # the longest reply there is (MLST names the path twice), with another
    # right behind it while it is still being sent
    deep = '/'.join(['d' * 250] * 3) + '/' + 'f' * 240   # within CMD_MAX
    os.makedirs(os.path.join(root, os.path.dirname(deep)), exist_ok=True)
    open(os.path.join(root, deep), 'wb').close()
    s = socket.create_connection((HOST, port), timeout=30)
    f = s.makefile('rb')
    f.readline()
    s.sendall(b'USER anonymous\r\nPASS x\r\nMLST /' + deep.encode() + b'\r\nNOOP\r\nQUIT\r\n')
    lines = []
    while True:
        r = f.readline()
        if not r:
            break
        lines.append(r)
    s.close()
    want = [b'331', b'230', b'250-', b' type', b'250 ', b'200', b'221']
    expect(len(lines) == len(want) and all(l.startswith(w) for l, w in zip(lines, want)) and
           lines[3].rstrip().endswith(deep.encode()),
           'a %d-byte MLST reply and the next one, whole' % sum(len(l) for l in lines[2:5]))
    import shutil
    shutil.rmtree(os.path.join(root, 'd' * 250))


def abor_stor():
    # ABOR in the middle of an upload, then an upload on the same session
    f = conn('alice', 'secret')
    f.voidcmd('TYPE I')
    c = f.transfercmd('STOR aborted.bin')
    c.sendall(os.urandom(1 << 20) * 4)
    first = f.abort()
    c.close()
    second = f.getresp()
    expect(first[:3] == '426' and second[:3] == '226',
           'ABOR in a STOR: %s then %s' % (first[:3], second[:3]))
    data = os.urandom(3 << 20)
    f.storbinary('STOR after.bin', io.BytesIO(data))
    got = open(os.path.join(root, 'after.bin'), 'rb').read()
    expect(got == data, 'the next STOR on that session is byte-exact')
    f.delete('after.bin')
    f.delete('aborted.bin')
    f.quit()


def offsets():
    # uploads whose writes do not fall on block boundaries: STOR after
    # REST at an odd offset, APPE, a trickle of small sends, an ASCII
    # upload that ends on a lone CR
    f = conn('alice', 'secret')
    data = os.urandom((1 << 20) + 12345)
    path = os.path.join(root, 'rest.bin')
    f.storbinary('STOR rest.bin', io.BytesIO(data[:70001] + b'junk' * 100))
    f.storbinary('STOR rest.bin', io.BytesIO(data[70001:]), rest=70001)
    expect(open(path, 'rb').read() == data, 'REST 70001 then STOR: byte-exact')
    f.storbinary('APPE rest.bin', io.BytesIO(data[:300001]))
    f.storbinary('APPE rest.bin', io.BytesIO(b'tail!'))
    expect(open(path, 'rb').read() == data + data[:300001] + b'tail!',
           'two APPEs (300,001 and 5 bytes): byte-exact')
    f.voidcmd('TYPE I')
    c = f.transfercmd('STOR trickle.bin')
    for i in range(20):
        c.sendall(data[i * 1000:(i + 1) * 1000])
        time.sleep(0.01)
    c.close()
    f.voidresp()
    expect(open(os.path.join(root, 'trickle.bin'), 'rb').read() == data[:20000],
           'STOR of 20 sends of 1,000 bytes, apart: byte-exact')
    f.voidcmd('TYPE A')
    c = f.transfercmd('STOR cr.txt')
    c.sendall(b'x\r\ny\r')
    c.close()
    f.voidresp()
    got = open(os.path.join(root, 'cr.txt'), 'rb').read()
    expect(got == b'x\ny\r', 'TYPE A STOR ending on a lone CR keeps it (%r)' % got)
    for n in ('rest.bin', 'trickle.bin', 'cr.txt'):
        f.delete(n)
    f.quit()


checks = {'offsets': offsets, 'abor_stor': abor_stor, 'flood': flood, 'fsync': fsync_stor, 'traversal': traversal, 'listing': listing, 'abor': abor, 'slow': slow,
          'clients200': clients200, 'badcmds': badcmds, 'idle': idle,
          'pasv_unused': pasv_unused, 'per_ip': per_ip, 'ascii': ascii_mode}
try:
    checks[check]()
except Exception as e:
    bad('%s: %s: %s' % (check, type(e).__name__, e))
sys.exit(1 if failed else 0)
