//! A few hundred seeds of the simulated fault campaign on every test run; the long
//! campaign is `ha-campaign --count 100000` (see RELIABILITY.md).

use ha_node::campaign::{CampaignConfig, run_campaign};

#[test]
fn three_hundred_seeds_hold_every_invariant() {
    let (violations, _) = run_campaign(0, 300, &CampaignConfig::default());
    let shown: Vec<String> = violations.iter().take(5).map(ToString::to_string).collect();
    assert!(
        violations.is_empty(),
        "{} violations, first:\n{}",
        violations.len(),
        shown.join("\n")
    );
}
