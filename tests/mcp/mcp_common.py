"""What the MCP test scripts share: stopping a broker and checking that its
log holds no sanitizer report (in the ASan/UBSan build a leak or an error
shows only there, the process' exit status is not the test's)."""
import re

REPORT = re.compile(r"(Leak|Address|UndefinedBehavior|Thread)Sanitizer|"
                    r"runtime error:")


def stop_checked(t, broker, what):
    paths = list(broker.logs)
    broker.stop()
    text = "".join(open(p, errors="replace").read() for p in paths)
    m = REPORT.search(text)
    t.check(f"{what}: no sanitizer report in the broker's log", not m,
            text[max(0, m.start() - 200):m.start() + 2000] if m else "")
