//! The state disk reserve over the real keystored: with the reserve set
//! above any free space, work of non-system subjects is refused with
//! `EDQUOTA` "state disk reserve reached" (audited), system subjects go on.

use crate::common::{args, text, Stack, ALPHA};
use nexus_core::{Coded, ErrorCode};

#[test]
fn test_reject_app_work_at_the_state_disk_reserve_with_edquota() {
    let s = Stack::start_with(&["--state-reserve-bytes", "18446744073709551615"]);
    s.keystored.wait_for("keystored: ready");
    let create = |who: &str, purpose: &str| {
        s.keystored.connect(who).call(
            "key.create",
            &args(&[
                ("purpose", text(purpose)),
                ("name", text("k")),
                ("alg", text("Ed25519")),
            ]),
        )
    };
    let e = create(ALPHA, "sign").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Edquota, "{e}");
    assert!(e.to_string().contains("state disk reserve reached"), "{e}");
    // System subjects may use the reserve.
    create("system:admin", "admin-sign").unwrap();
    let audit = s.audit();
    assert!(
        audit.contains(r#""subject":"app:com.example.alpha","capability":"identity.key.create","target":"com.example.alpha/sign/k","decision":"deny","reason":"state_reserve""#),
        "{audit}"
    );
}
