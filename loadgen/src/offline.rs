//! The generator scored against the real core, with no network: each session's frames go
//! through the codec and `Session::handle_frame` exactly as an edge shard would drive them.
//! Used to check the personas and the detectors together (`--offline`), and by tests.

use sentientiq_core::{AccountCooldowns, Aggregates, Ctx, Output, Session, TenantPolicy};
use sentientiq_proto::{ClientFrame, Limits, Seq, client_to_vec, decode_client_into};

use crate::synth::{Mix, SessionGen};
use crate::truth::Score;

/// Runs `sessions` sessions of `duration_s` through the core with `tenant`'s policy.
pub fn score(
    seed: u64,
    sessions: usize,
    duration_s: f64,
    mix: &Mix,
    tenant: &TenantPolicy,
) -> Score {
    let mut score = Score::default();
    let mut accounts = AccountCooldowns::default();
    let mut aggregates = Aggregates::default();
    let mut out = Vec::new();
    let mut slot = ClientFrame::Bye { seq: Seq(1) };
    let t0_ms = 1_790_000_000_000u64;
    for i in 0..sessions {
        let persona = mix.persona_of(i);
        let mut script = SessionGen::new(
            seed,
            i as u64,
            persona,
            (duration_s * 1e6) as i64,
            250,
            None,
        );
        let mut s = Session::anonymous();
        let mut dets = Vec::new();
        while let Some(p) = script.next_frame() {
            let wire = client_to_vec(&p.frame);
            if decode_client_into(&wire, &Limits::DEFAULT, &mut slot).is_err() {
                continue;
            }
            out.clear();
            let mut ctx = Ctx {
                now_ms: t0_ms + (p.send_at_us / 1000) as u64,
                tenant,
                accounts: &mut accounts,
                aggregates: &mut aggregates,
            };
            s.handle_frame(&mut ctx, &slot, &mut out);
            for o in &out {
                if let Output::Detection(d) = o {
                    dets.push((d.emotion.as_str().to_string(), d.at.0));
                }
            }
        }
        score.add_session(persona, script.episodes(), &dets, duration_s);
    }
    score
}
