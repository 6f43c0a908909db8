#!/bin/sh
# Stand-in for spark-submit in the fast job tests (the real one takes ~15 s):
# records its argv and environment in its working directory (the job's
# directory): argv.txt, env.txt (as its shell sees it) and environ.txt
# (exactly what it was started with); then acts out the job's first
# argument (the one after the script):
#   ok (default) write a CSV into $DSB_OUTPUT    fail  exit 3 with an error
#   sleep        run until signalled               stubborn  ignore SIGTERM
#   family       start a child shell that starts a grandchild (sleep), all in
#                the job's process group; the child writes "CHILD GRANDCHILD"
#                to family.pids once both run and its pid to family.term when
#                SIGTERM reaches it; on SIGTERM this script waits for the
#                child to end before it exits
#   bigout       write 2 MiB into $DSB_OUTPUT, then run until signalled
#   bigout_exit  write 2 MiB into $DSB_OUTPUT and exit 0
#   biglog       write 2 MiB to stdout, then run until signalled
#   python       run the script with python3, the arguments after "python"
#                as its own (the hostile, network and memory tests)
printf '%s\n' "$@" > argv.txt
env | sort > env.txt
tr '\0' '\n' < /proc/$$/environ | sort > environ.txt
while [ $# -gt 1 ]; do
  case "$1" in --*) shift 2 ;; *) break ;; esac
done
script=$1
[ $# -gt 0 ] && shift
mode=${1:-ok}
[ $# -gt 0 ] && shift
case "$mode" in
  sleep) exec sleep 600 ;;
  stubborn) trap '' TERM; sleep 600; sleep 600 ;;
  family) trap 'wait; exit 143' TERM
          sh -c 'trap "echo $$ > family.term; exit 143" TERM
                 sleep 600 &
                 echo "$$ $!" > family.tmp && mv family.tmp family.pids
                 wait' &
          wait ;;
  bigout|bigout_exit) mkdir -p "$DSB_OUTPUT"
         head -c 2097152 /dev/zero | tr '\0' 'x' > "$DSB_OUTPUT/part-00000.csv"
         if [ "$mode" = bigout ]; then exec sleep 600; fi ;;
  biglog) head -c 2097152 /dev/zero | tr '\0' 'x'
          exec sleep 600 ;;
  fail) echo "Exception in thread main java.lang.RuntimeException: boom" >&2
        exit 3 ;;
  jsonl) mkdir -p "$DSB_OUTPUT"
         printf '{"k":"a","n":1}\n{"k":"b","n":null}\n' > "$DSB_OUTPUT/part-0.json" ;;
  python) exec python3 "$script" "$@" ;;
  *) mkdir -p "$DSB_OUTPUT"
     printf 'a,b\n1,x\n2,"y,z"\n' > "$DSB_OUTPUT/part-00000.csv"
     printf 'a,b\n3,\n4,""\n' > "$DSB_OUTPUT/part-00001.csv"
     : > "$DSB_OUTPUT/_SUCCESS" ;;
esac
