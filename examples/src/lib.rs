//! Thin binaries built from the ha-rs crates: `ha-sim` (the demo), `ha-campaign` (fault
//! campaigns), `vrrpd`, `bfdd`, `ipvsctl` and `hacheck`. The per-machine node lives in
//! `ha-node` (`examples/node`) and the keepalived-compatible daemon in `hakeepd`
//! (`examples/hakeepd`).
