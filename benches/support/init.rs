//! Realistic random weights for timing: fan-in-scaled normal weights, unit BatchNorm and
//! LayerNorm gains, zero biases, identity running statistics. Tiny or NaN-producing values
//! (a plain N(0, 0.02) everywhere makes BatchNorm variances negative) would time denormal
//! and NaN arithmetic instead of the model.
use gradtrust_video::models::Model;
use tch::Kind;

pub fn randomize(model: &Model) {
    tch::no_grad(|| {
        for (name, mut t) in model.var_store().expect("a native model").variables() {
            if t.kind() != Kind::Float {
                continue;
            }
            let size = t.size();
            let leaf = name.rsplit('.').next().unwrap_or("");
            let _ = if leaf == "running_var" || (size.len() == 1 && leaf == "weight") {
                t.fill_(1.0)
            } else if size.len() <= 1 {
                t.fill_(0.0)
            } else if name.contains("position") || name.contains("token") || name.contains("pos_") {
                t.normal_(0.0, 0.02)
            } else {
                let fan_in = (t.numel() as i64 / size[0]).max(1);
                t.normal_(0.0, (2.0 / fan_in as f64).sqrt())
            };
        }
    });
}
