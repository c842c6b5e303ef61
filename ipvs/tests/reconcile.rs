//! Reconciler: minimal ordered operations, applied on the fake.

mod common;
use common::block_on;
use ha_core::Instant;
use ha_ipvs::model::{Destination, ForwardMethod, Protocol, Scheduler, Service, ServiceKey};
use ha_ipvs::reconcile::{DesiredService, Op, Reconciler, apply, plan};
use ha_ipvs::{FakeIpvs, IpvsBackend};
use std::time::Duration;

fn skey(port: u16) -> ServiceKey {
    ServiceKey::Addr {
        addr: "192.0.2.1".parse().unwrap(),
        protocol: Protocol::Tcp,
        port,
    }
}

fn dest(i: u8) -> Destination {
    Destination::new(
        format!("10.0.{}.{}", i / 200, i % 200 + 1).parse().unwrap(),
        80,
        ForwardMethod::DirectRoute,
    )
}

fn desired(port: u16, n: u8) -> DesiredService {
    DesiredService {
        service: Service::new(skey(port), Scheduler::Wrr),
        dests: (0..n).map(dest).collect(),
    }
}

fn converge(fake: &FakeIpvs, want: &[DesiredService]) -> Vec<Op> {
    block_on(async {
        let actual = fake.dump().await.unwrap();
        let ops = plan(want, &actual);
        apply(fake, &ops).await.unwrap();
        let again = plan(want, &fake.dump().await.unwrap());
        assert!(again.is_empty(), "not converged: {again:?}");
        ops
    })
}

#[test]
fn empty_to_desired_adds_services_before_their_dests() {
    let fake = FakeIpvs::new();
    let ops = converge(&fake, &[desired(80, 3), desired(443, 2)]);
    assert_eq!(ops.len(), 2 + 5);
    assert!(matches!(ops[0], Op::AddService(_)));
    assert!(matches!(ops[1], Op::AddService(_)));
    assert!(ops[2..].iter().all(|o| matches!(o, Op::AddDest { .. })));
}

#[test]
fn converged_state_plans_nothing() {
    let fake = FakeIpvs::new();
    converge(&fake, &[desired(80, 10)]);
    assert!(converge(&fake, &[desired(80, 10)]).is_empty());
}

#[test]
fn changing_one_destination_is_one_operation() {
    let fake = FakeIpvs::new();
    converge(&fake, &[desired(80, 200)]);
    let mut want = desired(80, 200);
    want.dests[17].weight = 9;
    let ops = converge(&fake, std::slice::from_ref(&want));
    assert_eq!(
        ops,
        vec![Op::EditDest {
            service: skey(80),
            dest: want.dests[17]
        }]
    );
    want.dests.remove(3);
    assert_eq!(converge(&fake, std::slice::from_ref(&want)).len(), 1);
    want.dests.push(dest(250));
    assert_eq!(converge(&fake, &[want]).len(), 1);
}

#[test]
fn service_attribute_change_is_an_edit_key_change_is_delete_plus_add() {
    let fake = FakeIpvs::new();
    converge(&fake, &[desired(80, 2)]);
    let mut want = desired(80, 2);
    want.service.scheduler = Scheduler::Mh;
    want.service.flags.sched_port = true;
    let ops = converge(&fake, std::slice::from_ref(&want));
    assert!(matches!(ops.as_slice(), [Op::EditService(s)] if s.scheduler == Scheduler::Mh));

    // A different port is a different service: delete (dests go with it), then add.
    let ops = converge(&fake, &[desired(8080, 2)]);
    assert_eq!(ops[0], Op::DelService(skey(80)));
    assert!(matches!(ops[1], Op::AddService(_)));
    assert_eq!(ops.len(), 4);
}

#[test]
fn deletions_come_before_additions() {
    let fake = FakeIpvs::new();
    converge(&fake, &[desired(80, 3), desired(81, 1)]);
    let mut want = desired(80, 3);
    want.dests.remove(0);
    want.dests.push(dest(9));
    let ops = converge(&fake, &[want, desired(82, 1)]);
    let kinds: Vec<u8> = ops
        .iter()
        .map(|o| match o {
            Op::DelDest { .. } => 0,
            Op::DelService(_) => 1,
            Op::AddService(_) | Op::EditService(_) => 2,
            Op::AddDest { .. } | Op::EditDest { .. } => 3,
        })
        .collect();
    assert_eq!(kinds, vec![0, 1, 2, 3, 3]);
}

#[test]
fn sub_second_timeouts_do_not_cause_perpetual_edits() {
    let fake = FakeIpvs::new();
    let mut want = desired(80, 1);
    want.service = want.service.persistent(Duration::from_millis(300_500));
    converge(&fake, std::slice::from_ref(&want));
    assert!(converge(&fake, &[want]).is_empty());
}

#[test]
fn graceful_drain_quiesces_then_deletes_when_connections_reach_zero() {
    let fake = FakeIpvs::new();
    converge(&fake, &[desired(80, 2)]);
    let mut r = Reconciler::new(Some(Duration::from_secs(30)));
    let gone = dest(1);
    block_on(fake.edit_dest(&skey(80), &gone.with_weight(1))).unwrap();
    fake.set_connections(&skey(80), &gone.key, 4, 2).unwrap();
    let want = [desired(80, 1)];
    let t0 = Instant::from_secs(100);

    let p = r.plan(t0, &want, &block_on(fake.dump()).unwrap());
    assert_eq!(
        p.ops,
        vec![Op::EditDest {
            service: skey(80),
            dest: gone.with_weight(0)
        }]
    );
    assert_eq!(p.next_check, Some(t0 + Duration::from_secs(30)));
    block_on(apply(&fake, &p.ops)).unwrap();

    // Still connections: wait.
    let p = r.plan(
        t0 + Duration::from_secs(5),
        &want,
        &block_on(fake.dump()).unwrap(),
    );
    assert!(p.ops.is_empty());
    assert_eq!(p.next_check, Some(t0 + Duration::from_secs(30)));

    // Connections drained: delete.
    fake.set_connections(&skey(80), &gone.key, 0, 0).unwrap();
    let p = r.plan(
        t0 + Duration::from_secs(6),
        &want,
        &block_on(fake.dump()).unwrap(),
    );
    assert_eq!(
        p.ops,
        vec![Op::DelDest {
            service: skey(80),
            dest: gone.key
        }]
    );
    block_on(apply(&fake, &p.ops)).unwrap();
    assert_eq!(r.draining().count(), 0);
}

#[test]
fn graceful_drain_deletes_after_timeout_and_drains_whole_services() {
    let fake = FakeIpvs::new();
    converge(&fake, &[desired(80, 1), desired(81, 1)]);
    fake.set_connections(&skey(80), &dest(0).key, 1, 0).unwrap();
    fake.set_connections(&skey(81), &dest(0).key, 1, 0).unwrap();
    let mut r = Reconciler::new(Some(Duration::from_secs(10)));
    let t0 = Instant::from_secs(1);
    // Service 81 is no longer wanted: its destination drains first.
    let want = [desired(80, 0)];
    let p = r.plan(t0, &want, &block_on(fake.dump()).unwrap());
    assert_eq!(p.ops.len(), 2, "{:?}", p.ops);
    block_on(apply(&fake, &p.ops)).unwrap();
    let p = r.plan(
        t0 + Duration::from_secs(10),
        &want,
        &block_on(fake.dump()).unwrap(),
    );
    assert_eq!(
        p.ops,
        vec![
            Op::DelDest {
                service: skey(80),
                dest: dest(0).key
            },
            Op::DelService(skey(81)),
        ]
    );
    block_on(apply(&fake, &p.ops)).unwrap();
    assert_eq!(block_on(fake.dump()).unwrap().services.len(), 1);
}

#[test]
fn a_draining_destination_that_is_wanted_again_is_restored() {
    let fake = FakeIpvs::new();
    converge(&fake, &[desired(80, 2)]);
    fake.set_connections(&skey(80), &dest(1).key, 3, 0).unwrap();
    let mut r = Reconciler::new(Some(Duration::from_secs(60)));
    let p = r.plan(
        Instant::ZERO,
        &[desired(80, 1)],
        &block_on(fake.dump()).unwrap(),
    );
    block_on(apply(&fake, &p.ops)).unwrap();
    let p = r.plan(
        Instant::from_secs(1),
        &[desired(80, 2)],
        &block_on(fake.dump()).unwrap(),
    );
    assert_eq!(
        p.ops,
        vec![Op::EditDest {
            service: skey(80),
            dest: dest(1)
        }]
    );
    assert_eq!(r.draining().count(), 0);
}

#[test]
fn apply_stops_at_the_first_error_and_says_where() {
    let fake = FakeIpvs::new();
    let ops = plan(&[desired(80, 2)], &Default::default());
    // Adding the destinations before the service: the kernel answers ESRCH.
    let err = block_on(apply(&fake, &ops[1..])).unwrap_err();
    assert_eq!(err.index, 0);
    assert_eq!(err.error.errno(), Some(ha_ipvs::Errno::Srch));
}

#[test]
fn owned_scope_leaves_foreign_services_alone() {
    use ha_ipvs::reconcile::Scope;
    let fake = FakeIpvs::new();
    // A service configured by another program.
    converge(&fake, &[desired(9999, 1)]);
    let mut r = Reconciler::new(None).with_scope(Scope::Owned);
    let p = r.plan(T0, &[desired(80, 1)], &block_on(fake.dump()).unwrap());
    assert!(p.ops.iter().all(|o| !matches!(o, Op::DelService(_))));
    block_on(apply(&fake, &p.ops)).unwrap();
    // Ours is deleted when no longer desired; the foreign one stays.
    let p = r.plan(T0, &[], &block_on(fake.dump()).unwrap());
    assert_eq!(p.ops, vec![Op::DelService(skey(80))]);
    block_on(apply(&fake, &p.ops)).unwrap();
    let left = block_on(fake.dump()).unwrap();
    assert_eq!(left.services.len(), 1);
    assert_eq!(left.services[0].service.key, skey(9999));
    // With Scope::All it would go too.
    assert_eq!(plan(&[], &left), vec![Op::DelService(skey(9999))]);
}

const T0: Instant = Instant::ZERO;
