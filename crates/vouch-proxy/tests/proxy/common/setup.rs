//! The usual arrangement: Debian's docker-registry with htpasswd vendor
//! credentials as the upstream, a published release, a proxy in front.

use vouch_proxy::store::ReferrersMode;
use vouch_testkit::LocalRegistry;

use super::images::{Pusher, Release, publish_release};
use super::{Licenses, Options, TestProxy, VENDOR_PASS, VENDOR_USER, basic, setup_licenses};

pub const REPO: &str = "acme/api";

pub struct World {
    pub registry: LocalRegistry,
    pub proxy: TestProxy,
    pub licenses: Licenses,
    pub release: Release,
    pub dir: tempfile::TempDir,
}

/// `None` (after a SKIP line) when docker-registry is not installed outside CI.
pub async fn world(referrers: ReferrersMode, options: Options) -> Option<World> {
    let registry = LocalRegistry::start(Some((VENDOR_USER, VENDOR_PASS)))?;
    let pusher = Pusher::new(&registry.url(), Some(basic(VENDOR_USER, VENDOR_PASS)));
    let release = publish_release(&pusher, REPO, 300_000).await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = TestProxy::start(dir.path(), &registry.url(), &options).await;
    let licenses = setup_licenses(&proxy, referrers).await;
    Some(World {
        registry,
        proxy,
        licenses,
        release,
        dir,
    })
}
