#!/bin/sh
# Stand-in for a Kubernetes or YARN cluster's clients in the spark-submit
# executor's tests: run as spark-submit (submit, --status, --kill) and as
# yarn (application -status, -kill), in the job's directory, it records
# each argv (submit.argv, status.argv, kill.argv) and keeps the
# application's state in the file "state" there, which the tests write to
# move it along; it prints what the real clients print.
#   k8s:  state holds the driver pod's phase (Pending, Running, ...); no
#         file: the pod does not exist ("Application not found.")
#   yarn: state holds "STATE FINAL-STATE" (ACCEPTED UNDEFINED, ...)
# A job whose first argument is "refuse" makes the submit fail; a file
# "hold" in the job's directory holds a k8s --status until it is removed.
if [ "$1" = application ]; then # yarn application -status|-kill ID
  case "$2" in
    -status)
      printf '%s\n' "$@" > status.argv
      read -r state final < state
      printf 'Application Report : \n\tApplication-Id : %s\n\tApplication-Name : x\n\tApplication-Type : SPARK\n\tUser : dsb\n\tQueue : root.default\n\tStart-Time : 1765123200000\n\tFinish-Time : 0\n\tProgress : 10%%\n\tState : %s\n\tFinal-State : %s\n\tTracking-URL : N/A\n' \
        "$3" "$state" "$final" ;;
    -kill)
      printf '%s\n' "$@" > kill.argv
      echo "KILLED KILLED" > state
      echo "Killing application $3"
      echo "INFO impl.YarnClientImpl: Killed application $3" >&2 ;;
  esac
  exit 0
fi
master=
prev=
for a in "$@"; do
  [ "$prev" = --master ] && master=$a
  case "$prev" in
    --status)
      printf '%s\n' "$@" > status.argv
      # a file "hold" keeps the command running (a slow JVM, a cluster
      # that does not answer) until the test removes it, 120 s at most (a
      # test that failed leaves it); "holding" says that it waits
      if [ -f hold ]; then
        : > holding
        n=0
        while [ -f hold ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n + 1)); done
      fi
      if [ ! -f state ]; then echo "Application not found."; exit 0; fi
      printf 'Application status (driver): \n\t pod name: %s\n\t namespace: %s\n\t labels: spark-role -> driver\n\t pod uid: 0f1e2d3c\n\t creation time: 2026-12-07T16:00:00Z\n\t service account name: spark\n\t node name: node-1\n\t start time: 2026-12-07T16:00:01Z\n\t phase: %s\n\t container status: \n\t\t container name: spark-kubernetes-driver\n\t\t container state: running\n' \
        "${a#*:}" "${a%%:*}" "$(cat state)"
      exit 0 ;;
    --kill)
      printf '%s\n' "$@" > kill.argv
      if [ ! -f state ]; then echo "Application not found."; exit 0; fi
      rm -f state
      echo "Deleting driver pod with submission ID $a"
      exit 0 ;;
  esac
  prev=$a
done
printf '%s\n' "$@" > submit.argv
for a in "$@"; do
  if [ "$a" = refuse ]; then
    echo "Exception in thread \"main\" org.apache.spark.SparkException: the cluster refused it" >&2
    exit 1
  fi
done
if [ "$master" = yarn ]; then
  echo "ACCEPTED UNDEFINED" > state
  echo "INFO Client: Submitted application application_1765123200000_0042" >&2
else
  echo "Pending" > state
  echo "INFO KubernetesClientApplication: Deployed Spark application into Kubernetes" >&2
fi
exit 0
