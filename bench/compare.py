#!/usr/bin/env python3
"""The policy comparison: echo_server under every policy and as a master with
two single-loop reactor workers (the `workers` row), plus three references
(a minimal epoll echo server, an echo server on Asio by hand, and Python's
socketserver), over a matrix of workloads. Each cell is run --repeats times and
the median kept; ratios to the epoll reference are taken within this run, since
absolute figures on shared machines drift; the reactor is also set beside the
Asio one, the library it is built on. Writes raw.json, report.md and PNG plots
into --out. Exits 1 when a cell could not run, 2 for bad arguments.

The C10K case holds --idle-conns connections open and silent (opened before
the load) while 100 others ping-pong; the report sets its latency beside the
100-connections-alone case and shows each server's threads and memory.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = ["serial", "threading", "pool", "forking", "reactor"]
# --workers: a master and WORKERS processes of one event loop each on its
# socket (nginx's shape), under the same CPU pin as every server here.
WORKERS = 2
PROCESSES = ["workers"]
REFERENCES = ["epoll", "asio", "python"]
SERVERS = POLICIES + PROCESSES + REFERENCES
# name: (proto, mode, conns, size)
CASES = {
    "tcp-64B-c1": ("tcp", "pingpong", 1, 64),
    "tcp-64B-c16": ("tcp", "pingpong", 16, 64),
    "tcp-64B-c256": ("tcp", "pingpong", 256, 64),
    "tcp-4KiB-c16": ("tcp", "pingpong", 16, 4096),
    "tcp-16KiB-c16": ("tcp", "pingpong", 16, 16384),
    "tcp-connect-c16": ("tcp", "connect", 16, 64),
    "udp-64B-c16": ("udp", "pingpong", 16, 64),
    "unix-64B-c16": ("unix", "pingpong", 16, 64),
    "tcp-64B-c100": ("tcp", "pingpong", 100, 64),
    "c10k": ("tcp", "pingpong", 100, 64),  # plus --idle-conns silent connections
}
C10K_ALONE = "tcp-64B-c100"  # the same active load without the idle crowd
# Python's socketserver is left out of the C10K case: a thread per idle
# connection is its known answer, and starting thousands takes minutes.
C10K_SKIP = {"python"}
TICKS = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def server_command(build, server, proto, sock_path, max_connections=None):
    where = ["--path", sock_path] if proto.startswith("unix") else ["--port", "0"]
    if server in ("epoll", "asio"):
        return [os.path.join(build, "bench", server + "_echo"), "--proto", proto] + where
    if server == "python":
        return [sys.executable, os.path.join(HERE, "py_echo_server.py"), "--proto", proto] + where
    limit = ["--max-connections", str(max_connections)] if max_connections else []
    if server == "workers":
        policy = ["--workers", str(WORKERS), "--policy", "reactor", "--loops", "1"]
    else:
        policy = ["--policy", server]
    return [os.path.join(build, "samples", "echo_server"), "--proto", proto] + policy + where + limit


def process_tree(pid):
    """The process and its descendants (a forking server's children serve)."""
    out = [pid]
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                for child in f.read().split():
                    out += process_tree(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def memory_and_threads(pid):
    """RSS (MB) and threads of a server, its children included, now."""
    rss_kb, threads = 0, 0
    for p in process_tree(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss_kb += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return rss_kb / 1024.0, threads


def cpu_seconds(pid):
    """CPU time of a process: its own, its reaped children's, and that of its
    children still running (a forking server's connections live in them)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tids = os.listdir("/proc/%d/task" % pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0  # exited between the listing and the read
    total = sum(int(x) for x in fields[11:15]) / TICKS
    for tid in tids:
        try:  # a thread that ends meanwhile (a thread cache's) takes its list along
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                children = f.read().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += sum(cpu_seconds(int(child)) for child in children)
    return total


def cpus():
    return sorted(os.sched_getaffinity(0))


def run_cell(args, server, case):
    proto, mode, conns, size = CASES[case]
    tmp = tempfile.mkdtemp(prefix="sbcmp-")
    sock_path = os.path.join(tmp, "s.sock")
    cores = cpus()
    pin_server, pin_load = [], []
    load_threads = 1
    if len(cores) >= 2:  # server and load generator never share a CPU
        pin_server = ["taskset", "-c", str(cores[0])]
        pin_load = ["taskset", "-c", ",".join(map(str, cores[1:]))]
        load_threads = min(4, len(cores) - 1)
    idle = args.idle_conns if case == "c10k" else 0
    cmd = pin_server + server_command(args.build, server, proto, sock_path,
                                      (idle + conns + 64) if idle else None)
    with open(os.path.join(tmp, "stderr"), "w") as err:
        srv = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        line = srv.stdout.readline()  # the server prints it when ready
        m = re.match(r"listening on (\w[\w-]*)(?::|://)(.*)", line.strip())
        if not m:
            raise RuntimeError(did_not_start(cmd, srv, line, os.path.join(tmp, "stderr")))
        target = ["--path", sock_path] if proto.startswith("unix") else ["--port", m.group(2).rsplit(":", 1)[1]]
        load = pin_load + [
            os.path.join(args.build, "bench", "loadgen"), "--json", "--proto", proto, "--mode", mode,
            "--conns", str(conns), "--size", str(size), "--threads", str(load_threads),
            "--duration", str(args.duration), "--warmup", str(args.warmup)] + target
        if idle:
            load += ["--idle-conns", str(idle)]
        lg = subprocess.Popen(load, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if idle:  # the idle crowd connects first; the warm-up starts after it
            while lg.poll() is None and not lg.stderr.readline().startswith("idle connected"):
                pass
        time.sleep(args.warmup)  # measure the server's CPU over the measured window only
        cpu0, t0 = cpu_seconds(srv.pid), time.monotonic()
        time.sleep(args.duration * 0.9)  # memory and threads while the load runs
        rss_mb, threads = memory_and_threads(srv.pid)
        out, err = lg.communicate(timeout=args.duration + args.warmup + 60)
        cpu1, t1 = cpu_seconds(srv.pid), time.monotonic()
        # 1: some requests failed; the figures still come, and the report counts the errors.
        if lg.returncode not in (0, 1) or not out.strip():
            raise RuntimeError("loadgen exited with status %d: %s\n  %s"
                               % (lg.returncode, err.strip(), " ".join(load)))
        if lg.returncode:
            log("  " + err.strip().splitlines()[-1] if err.strip() else "  loadgen: status 1")
        result = json.loads(out)
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            code = srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()
            code = srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    cpu = cpu1 - cpu0
    result.update(server=server, case=case, exit_code=code, server_cpu_s=cpu,
                  server_rss_mb=rss_mb, server_threads=threads,
                  server_cpu_pct=100.0 * cpu / max(t1 - t0, 1e-9),
                  # A process whose threads exit mid-run can read lower later in /proc:
                  # such a window has no trustworthy figure.
                  cpu_us_per_req=(1e6 * cpu / result["requests"]) if result["requests"] and cpu >= 0 else None)
    return result


def did_not_start(cmd, srv, line, stderr_path):
    """Why a server printed no ready line: its exit status and its own stderr."""
    try:
        status = "exit status %d" % srv.wait(timeout=5)
    except subprocess.TimeoutExpired:
        status = "still running, printed %r" % line
    with open(stderr_path) as f:
        err = f.read().strip()
    return "%s did not start (%s)%s" % (" ".join(cmd), status, ":\n    " + err.replace("\n", "\n    ") if err else "")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(runs):
    cells = {}
    for r in runs:
        cells.setdefault((r["server"], r["case"]), []).append(r)
    summary = {}
    for key, rs in cells.items():
        summary[key] = {
            "rps": median([r["rps"] for r in rs]),
            "p50": median([r["latency_us"]["p50"] for r in rs]),
            "p99": median([r["latency_us"]["p99"] for r in rs]),
            "cpu_us": median([r["cpu_us_per_req"] for r in rs]),
            "cpu_pct": median([r["server_cpu_pct"] for r in rs]),
            "errors": max(r["errors"] for r in rs),
            "timeouts": max(r["timeouts"] for r in rs),
            "starved": max(r["starved"] for r in rs),
            "requests": median([r["requests"] for r in rs]),
            "exit": max((r["exit_code"] for r in rs), key=abs),
            "runs": len(rs),
            "rss_mb": median([r.get("server_rss_mb") for r in rs]),
            "threads": median([r.get("server_threads") for r in rs]),
            "idle": rs[-1].get("idle", {}),
        }
    return summary


def fmt(v, spec="%.0f"):
    return "—" if v is None else spec % v


def ratio(a, b):
    return None if a is None or not b else a / b


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        cxx = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        cxx = "unknown"
    return {"cpu": model, "cores": os.cpu_count(), "kernel": platform.release(), "compiler": cxx,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def report(args, servers, cases, summary, info, failures=()):
    lines = ["# Policy comparison", "",
             "%s, %s (%d cores), Linux %s, %s." % (info["date"], info["cpu"], info["cores"], info["kernel"],
                                                  info["compiler"]),
             "Each cell: median of %d runs of %.1f s (after %.1f s warm-up); server and load generator pinned to "
             "different CPUs. Ratios are to the epoll reference in this run." % (args.repeats, args.duration,
                                                                                  args.warmup),
             "", "Command: `%s`" % args.command, "",
             "## Requests per second (× epoll reference)", "",
             "| server | " + " | ".join(cases) + " |", "|---|" + "---|" * len(cases)]
    for s in servers:
        row = []
        for c in cases:
            cell = summary.get((s, c))
            ref = summary.get(("epoll", c))
            if not cell:
                row.append("—")
                continue
            r = ratio(cell["rps"], ref and ref["rps"])
            row.append("%s (%s×)" % (fmt(cell["rps"]), fmt(r, "%.2f")))
        lines.append("| %s | %s |" % (s, " | ".join(row)))
    lines += ["", "## Server CPU µs per request (× epoll reference)", "",
              "| server | " + " | ".join(cases) + " |", "|---|" + "---|" * len(cases)]
    for s in servers:
        row = []
        for c in cases:
            cell, ref = summary.get((s, c)), summary.get(("epoll", c))
            if not cell:
                row.append("—")
                continue
            row.append("%s (%s×)" % (fmt(cell["cpu_us"], "%.1f"), fmt(ratio(cell["cpu_us"], ref and ref["cpu_us"]), "%.2f")))
        lines.append("| %s | %s |" % (s, " | ".join(row)))
    lines += ["", "## Latency p50 / p99 µs", "", "| server | " + " | ".join(cases) + " |",
              "|---|" + "---|" * len(cases)]
    for s in servers:
        row = [("%s / %s" % (fmt(summary[(s, c)]["p50"], "%.0f"), fmt(summary[(s, c)]["p99"], "%.0f")))
               if (s, c) in summary else "—" for c in cases]
        lines.append("| %s | %s |" % (s, " | ".join(row)))
    problems = []
    for (s, c), cell in sorted(summary.items()):
        conns = CASES[c][2]
        if cell["starved"]:
            problems.append("- **%s, %s**: %d of %d connections got no reply in %.1f s (%d timeouts); a blocking "
                            "policy holds a thread or process per connection for its whole life, so the rest wait."
                            % (s, c, cell["starved"], conns, args.duration, cell["timeouts"]))
        elif cell["errors"]:
            problems.append("- **%s, %s**: %d errors (%d timeouts)." % (s, c, cell["errors"], cell["timeouts"]))
        if cell["exit"] != 0:
            problems.append("- **%s, %s**: the server exited with status %d after SIGTERM." % (s, c, cell["exit"]))
    for f in failures:
        problems.append("- **%s, %s** (run %d): did not run: %s" % (f["server"], f["case"], f["run"],
                                                                 " ".join(f["error"].split())))
    if "reactor" in servers and "asio" in servers:
        lines += asio_report(cases, summary)
    if "c10k" in cases:
        lines += c10k_report(args, servers, summary)
    lines += ["", "## Where a server could not serve a case", ""] + (problems or ["None: every cell ran without errors."])
    lines += ["", "Plots: `rps_by_conns.png`, `p99.png`, `cpu_per_request.png`; raw runs in `raw.json`.", ""]
    return "\n".join(lines)


def asio_report(cases, summary):
    """The reactor beside asio_echo: both on Asio, one thread each here, so the
    ratio is what the framework's layers cost over the library used by hand."""
    lines = ["", "## The reactor against Asio by hand", "",
             "`asio_echo` is an echo server written as Asio's own examples are (a session per "
             "connection, `async_read_some` then `async_write`; `async_receive_from` then "
             "`async_send_to`), on one thread and one `io_context`. The reactor is built on Asio, so "
             "its ratio to this one, measured in the same run, is what the framework costs over "
             "the library by hand: above 1.00× for requests/s is faster, above 1.00× for CPU per "
             "request costs more.", "",
             "| case | reactor req/s | asio req/s | × asio | reactor CPU µs/req | asio CPU µs/req | × asio |",
             "|---|---|---|---|---|---|---|"]
    for c in cases:
        cell, ref = summary.get(("reactor", c)), summary.get(("asio", c))
        if not cell or not ref:
            continue
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            c, fmt(cell["rps"]), fmt(ref["rps"]), fmt(ratio(cell["rps"], ref["rps"]), "%.2f"),
            fmt(cell["cpu_us"], "%.1f"), fmt(ref["cpu_us"], "%.1f"),
            fmt(ratio(cell["cpu_us"], ref["cpu_us"]), "%.2f")))
    return lines


def c10k_report(args, servers, summary):
    """The C10K table: what holding many idle connections costs each server,
    and whether the active ones are still served (p99 beside 100 alone)."""
    lines = ["", "## C10K: %d idle connections + 100 active" % args.idle_conns, "",
             "Idle connections are opened first and stay silent; 100 others ping-pong 64 B. "
             "Threads and RSS are the server's (children included) while the load runs; "
             "p99 is the active connections', beside the same 100 without the idle crowd (%s)."
             % C10K_ALONE, "",
             "| server | threads | RSS MB | requests/s | p99 µs | p99 alone µs | × alone | idle connected / ended by server | active starved | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in servers:
        cell, alone = summary.get((s, "c10k")), summary.get((s, C10K_ALONE))
        if not cell:
            continue
        idle = cell["idle"] or {}
        ratio_p99 = ratio(cell["p99"], alone and alone["p99"]) if cell["requests"] else None
        verdict = "serves them all"
        if cell["starved"] or not cell["requests"]:
            verdict = ("**falls over**: %d of 100 active connections never answered, the idle ones hold "
                       "what serves them" % cell["starved"])
        elif idle.get("closed"):
            verdict = "**drops idle connections** (%d ended)" % idle["closed"]
        elif idle.get("established", 0) < args.idle_conns:
            verdict = "**refuses connections** (%d of %d connected)" % (idle.get("established", 0), args.idle_conns)
        elif ratio_p99 and ratio_p99 > 2:
            verdict = "serves them, slower (p99 %.1f× alone)" % ratio_p99
        if verdict == "serves them all" and (cell["threads"] or 0) > args.idle_conns / 2:
            verdict = "serves them all, with a thread per connection (%s MB)" % fmt(cell["rss_mb"], "%.0f")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %d | %s |" % (
            s, fmt(cell["threads"]), fmt(cell["rss_mb"], "%.1f"), fmt(cell["rps"]) if cell["requests"] else "0",
            fmt(cell["p99"]) if cell["requests"] else "—", fmt(alone and alone["p99"]), fmt(ratio_p99, "%.2f"),
            idle.get("established", "—"), idle.get("closed", "—"), cell["starved"], verdict))
    return lines


def plots(out, servers, cases, summary):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plots (scripts/setup.sh installs gnuplot-nox)")
        return
    tcp = [c for c in ["tcp-64B-c1", "tcp-64B-c16", "tcp-64B-c256"] if c in cases]
    with open(os.path.join(out, "rps_by_conns.dat"), "w") as f:
        f.write("conns " + " ".join(servers) + "\n")
        for c in tcp:
            f.write(str(CASES[c][2]) + " " + " ".join(fmt((summary.get((s, c)) or {}).get("rps"), "%.0f").replace("—", "NaN") for s in servers) + "\n")
    for name, key in [("p99", "p99"), ("cpu_per_request", "cpu_us")]:
        with open(os.path.join(out, name + ".dat"), "w") as f:
            f.write("case " + " ".join(servers) + "\n")
            for c in cases:
                f.write(c + " " + " ".join(fmt((summary.get((s, c)) or {}).get(key), "%.2f").replace("—", "NaN") for s in servers) + "\n")
    n = len(servers)
    script = """
set terminal pngcairo size 1100,620 noenhanced font ",10"
set key outside right
set grid ytics
set output '{o}/rps_by_conns.png'
set title 'TCP 64 B ping-pong: requests/s by connections'
set xlabel 'connections'; set ylabel 'requests/s'; set logscale x 2
plot for [i=2:{n1}] '{o}/rps_by_conns.dat' using 1:i with linespoints lw 2 title columnheader(i)
unset logscale x; unset xlabel
set style data histograms; set style histogram clustered gap 1; set style fill solid 0.8 border -1
set xtics rotate by -30
set output '{o}/p99.png'
set title 'p99 latency (µs, log scale)'; set ylabel 'µs'; set logscale y
plot for [i=2:{n1}] '{o}/p99.dat' using i:xtic(1) title columnheader(i)
set output '{o}/cpu_per_request.png'
set title 'server CPU µs per request (log scale)'; set ylabel 'µs'
plot for [i=2:{n1}] '{o}/cpu_per_request.dat' using i:xtic(1) title columnheader(i)
""".format(o=out, n1=n + 1)
    subprocess.run(["gnuplot"], input=script, text=True, check=False)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build", help="the CMake build folder")
    p.add_argument("--out", default=None, help="results folder (default results/<date>)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--servers", default=",".join(SERVERS),
                   help="comma-separated, from: %s (default: all)" % ", ".join(SERVERS))
    p.add_argument("--cases", default=",".join(CASES),
                   help="comma-separated, from: %s (default: all)" % ", ".join(CASES))
    p.add_argument("--idle-conns", type=int, default=1000,
                   help="the C10K case's silent connections (10000 for the full run)")
    p.add_argument("--from-raw", default=None,
                   help="write the report and plots again from a raw.json of an earlier run")
    args = p.parse_args()
    servers = args.servers.split(",")
    cases = args.cases.split(",")
    for s in servers:
        if s not in SERVERS:
            p.error("unknown server %r (known: %s)" % (s, ", ".join(SERVERS)))
    for c in cases:
        if c not in CASES:
            p.error("unknown case %r (known: %s)" % (c, ", ".join(CASES)))
    out = args.out or os.path.join("results", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    if args.from_raw:  # the figures of that run, reported with its own settings
        with open(args.from_raw) as f:
            raw = json.load(f)
        for key in ("repeats", "duration", "warmup", "idle_conns"):
            if key in raw["args"]:
                setattr(args, key, raw["args"][key])
        a = raw["args"]
        args.command = raw.get("command") or "bench/compare.py --build %s --repeats %d --duration %g --warmup %g --idle-conns %d" % (
            a.get("build", "build"), args.repeats, args.duration, args.warmup, args.idle_conns)
        servers = [s for s in servers if any(r["server"] == s for r in raw["runs"])]
        cases = [c for c in cases if any(r["case"] == c for r in raw["runs"])]
        summary = summarize(raw["runs"])
        failures = raw.get("failures", [])
        text = report(args, servers, cases, summary, raw["machine"], failures)
        with open(os.path.join(out, "report.md"), "w") as f:
            f.write(text)
        plots(out, servers, cases, summary)
        print(text)
        return 1 if failures else 0
    info = machine()
    args.command = " ".join(["bench/compare.py"] + sys.argv[1:])
    cells = [(c, s) for c in cases for s in servers if not (c == "c10k" and s in C10K_SKIP)]
    runs, failures, total, done = [], [], len(cells) * args.repeats, 0
    for rep in range(args.repeats):  # repeats outermost, so drift spreads over every server
        for case, server in cells:
            done += 1
            log("[%d/%d] %s %s (run %d)" % (done, total, server, case, rep + 1))
            try:
                runs.append(run_cell(args, server, case))
            except Exception as e:  # one broken cell must not lose the rest
                log("  failed: %s" % e)
                failures.append({"server": server, "case": case, "run": rep + 1, "error": str(e)})
    with open(os.path.join(out, "raw.json"), "w") as f:
        json.dump({"machine": info, "args": vars(args), "command": args.command, "runs": runs,
                   "failures": failures}, f, indent=1)
    summary = summarize(runs)
    text = report(args, servers, cases, summary, info, failures)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(text)
    plots(out, servers, cases, summary)
    print(text)
    log("results in %s/ (report.md, raw.json, *.png)" % out)
    if failures:
        log("%d of %d runs could not run: see report.md" % (len(failures), total))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
