//! The Prometheus text exposition of the status document.
//!
//! Rendered from one [`Status`] snapshot rather than kept in a metrics registry: every
//! series is a view of state the daemon keeps anyway, so nothing is updated in two
//! places, and a registry dependency is not needed for a dozen series.

use std::fmt::Write;

use super::daemon::Status;

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its samples as `(labels, value)`.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn instance(name: &str) -> String {
    format!("instance=\"{}\"", escape(name))
}

/// Renders `status` in the Prometheus text format (version 0.0.4).
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let per_instance = |f: &dyn Fn(&super::daemon::InstanceStatus) -> u64| {
        status
            .instances
            .iter()
            .map(|i| (instance(&i.name), f(i)))
            .collect::<Vec<_>>()
    };
    family(
        &mut out,
        "hakeepd_vrrp_state",
        "gauge",
        "VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT.",
        &per_instance(&|i| match i.state.as_str() {
            "BACKUP" => 1,
            "MASTER" => 2,
            "FAULT" => 3,
            _ => 0,
        }),
    );
    family(
        &mut out,
        "hakeepd_vrrp_priority",
        "gauge",
        "Effective VRRP priority.",
        &per_instance(&|i| u64::from(i.priority)),
    );
    let transitions: Vec<(String, u64)> = status
        .instances
        .iter()
        .flat_map(|i| {
            i.counters.transitions.iter().map(|(state, n)| {
                (
                    format!("{},state=\"{}\"", instance(&i.name), escape(state)),
                    *n,
                )
            })
        })
        .collect();
    family(
        &mut out,
        "hakeepd_vrrp_transitions_total",
        "counter",
        "Transitions into each VRRP state.",
        &transitions,
    );
    family(
        &mut out,
        "hakeepd_vrrp_action_failures_total",
        "counter",
        "Address, route or announcement changes that failed.",
        &per_instance(&|i| i.counters.action_failures),
    );
    family(
        &mut out,
        "hakeepd_vrrp_late_timers_total",
        "counter",
        "Protocol timers that fired more than a millisecond late.",
        &per_instance(&|i| i.counters.late_timers),
    );
    let tracked: Vec<(String, u64)> = status
        .tracked
        .iter()
        .map(|(name, state)| {
            (
                format!("object=\"{}\"", escape(name)),
                u64::from(state == "UP"),
            )
        })
        .collect();
    family(
        &mut out,
        "hakeepd_tracked_up",
        "gauge",
        "Tracked scripts and files: 1 up, 0 down.",
        &tracked,
    );
    let scalars: [(&str, &str, &str, u64); 10] = [
        (
            "hakeepd_reloads_total",
            "counter",
            "Successful configuration reloads.",
            status.reloads,
        ),
        (
            "hakeepd_reload_failures_total",
            "counter",
            "Reloads rejected because the configuration did not load.",
            status.failed_reloads,
        ),
        (
            "hakeepd_config_warnings",
            "gauge",
            "Warnings of the running configuration.",
            status.config_warnings.len() as u64,
        ),
        (
            "hakeepd_notify_scripts_total",
            "counter",
            "Notify scripts started.",
            status.notify.scripts_started,
        ),
        (
            "hakeepd_notify_script_failures_total",
            "counter",
            "Notify scripts that could not be started.",
            status.notify.script_failures,
        ),
        (
            "hakeepd_notify_fifo_lines_total",
            "counter",
            "Lines written to notify FIFOs.",
            status.notify.fifo_lines,
        ),
        (
            "hakeepd_notify_fifo_drops_total",
            "counter",
            "Lines dropped because a notify FIFO was full.",
            status.notify.fifo_drops,
        ),
        (
            "hakeepd_bfd_late_timers_total",
            "counter",
            "BFD engine timers that fired more than a millisecond late.",
            status.bfd_driver.late_timers,
        ),
        (
            "hakeepd_bfd_io_failures_total",
            "counter",
            "BFD packets not sent, and BFD receive errors.",
            status.bfd_driver.io_failures,
        ),
        (
            "hakeepd_bfd_timer_failures_total",
            "counter",
            "Times the BFD engine's precise timer failed and it fell back to tokio's.",
            status.bfd_driver.timer_failures,
        ),
    ];
    for (name, kind, help, value) in scalars {
        family(&mut out, name, kind, help, &[(String::new(), value)]);
    }
    out
}
