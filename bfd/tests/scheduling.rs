//! `ha_bfd::linux::apply_scheduling` changes the calling thread, and only it.
#![cfg(feature = "linux")]

use ha_bfd::linux::{LinuxError, apply_scheduling};
use ha_bfd::scheduling::{Nice, RealtimePriority, Scheduling};

/// Fields of the calling thread's `/proc/thread-self/stat` (numbered from 1, as in
/// proc(5)), from field 3 on.
fn stat_field(n: usize) -> i64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[n - 3].parse().unwrap()
}

fn allowed_cpus() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn nice_and_affinity_apply_to_the_calling_thread_only() {
    let (nice_before, cpus_before) = (stat_field(19), allowed_cpus());
    let (nice, cpus) = std::thread::spawn(|| {
        let scheduling = Scheduling {
            nice: Nice::new(7),
            cpu_affinity: vec![0],
            ..Scheduling::default()
        };
        // Raising one's nice value and narrowing one's CPUs need no privilege.
        apply_scheduling(&scheduling).unwrap();
        (stat_field(19), allowed_cpus())
    })
    .join()
    .unwrap();
    assert_eq!((nice, cpus.as_str()), (7, "0"));
    assert_eq!((stat_field(19), allowed_cpus()), (nice_before, cpus_before));
}

#[test]
fn a_cpu_that_cannot_exist_is_a_typed_error() {
    let scheduling = Scheduling {
        cpu_affinity: vec![1 << 20],
        ..Scheduling::default()
    };
    let e = std::thread::spawn(move || apply_scheduling(&scheduling))
        .join()
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, LinuxError::Scheduling { .. }), "{e:?}");
    assert!(e.to_string().contains("CPU affinity"), "{e}");
}

#[test]
#[ignore = "privileged: SCHED_RR needs CAP_SYS_NICE"]
fn realtime_priority_applies_sched_rr_to_the_calling_thread() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: not root");
        return;
    }
    let (policy, priority) = std::thread::spawn(|| {
        let scheduling = Scheduling {
            realtime: RealtimePriority::new(10),
            ..Scheduling::default()
        };
        apply_scheduling(&scheduling).unwrap();
        (stat_field(41), stat_field(40))
    })
    .join()
    .unwrap();
    // SCHED_RR is policy 2.
    assert_eq!((policy, priority), (2, 10));
    assert_eq!(stat_field(41), 0, "the test's own thread is untouched");
}
