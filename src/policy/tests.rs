//! Profile compile + authorize tests.

use super::*;

#[test]
fn profile_is_shareable() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Profile>();
    send_sync::<std::sync::Arc<Profile>>();
}

#[test]
fn reply_keys_and_merging() {
    let rate = [26, 12, 0, 0, 0x3a, 0x8c, 8, 6, b'2', b'M', b'/', b'5'];
    let class_a = [25, 3, b'a'];
    let class_b = [25, 3, b'b'];
    assert_eq!(reply_key(&rate), (14988, 8));
    assert_eq!(reply_key(&class_a), (0, 25));
    let mut reply: Vec<&[u8]> = Vec::new();
    merge_reply(&mut reply, Merge::IfAbsent, &class_a);
    merge_reply(&mut reply, Merge::IfAbsent, &class_b);
    assert_eq!(reply, [&class_a[..]]);
    merge_reply(&mut reply, Merge::Append, &class_b);
    merge_reply(&mut reply, Merge::Append, &rate);
    assert_eq!(reply, [&class_a[..], &class_b[..], &rate[..]]);
    merge_reply(&mut reply, Merge::Replace, &class_b);
    assert_eq!(reply, [&rate[..], &class_b[..]]);
}
