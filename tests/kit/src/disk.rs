//! Small filesystems for the disk-full rows: a tmpfs, or ext4 on a loop device.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A small filesystem mounted at `dir` (tests run as root, as CI does), unmounted on drop.
#[derive(Debug)]
pub struct SmallDisk(PathBuf);

/// The small disk's kind: a tmpfs (glommio opens no file on it `O_DIRECT`, so the spool writes
/// through the page cache), or ext4 on a loop device over an image file (the spool writes its
/// segments `O_DIRECT`, reserved with `fallocate`: the edge's path on a real disk).
#[derive(Clone, Copy, Debug)]
pub enum DiskKind {
    Tmpfs,
    Ext4,
}

impl SmallDisk {
    /// A disk of `mib` MiB at `dir`; an ext4 image is made beside `dir` (`dir` plus `.img`).
    pub fn mount(kind: DiskKind, dir: &Path, mib: u64) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        let mut mount = std::process::Command::new("mount");
        match kind {
            DiskKind::Tmpfs => {
                mount.args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"]);
            }
            DiskKind::Ext4 => {
                let image = dir.with_extension("img");
                std::fs::File::create(&image)
                    .and_then(|f| f.set_len(mib << 20))
                    .expect("the disk's image");
                assert!(
                    Path::new("/dev/loop-control").exists(),
                    "an ext4 disk here is mounted over a loop device: no /dev/loop-control"
                );
                // No blocks reserved for root (the edge runs as root here, and the filler too);
                // 4 KiB blocks as on a real disk (mke2fs makes a disk this small with 1 KiB).
                let st = std::process::Command::new("mkfs.ext4")
                    .args(["-q", "-F", "-m", "0", "-b", "4096"])
                    .arg(&image)
                    .status()
                    .expect("mkfs.ext4 runs (e2fsprogs; make deps installs it)");
                assert!(st.success(), "mkfs.ext4 failed");
                mount.args(["-o", "loop"]).arg(image);
            }
        }
        let st = mount.arg(dir).status().expect("mount runs");
        assert!(
            st.success(),
            "mounting a {kind:?} disk needs root (as make test runs in CI)"
        );
        SmallDisk(dir.to_path_buf())
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Fills the filesystem: a file grows until the disk refuses more (again, each call: space
    /// freed since is taken too).
    pub fn fill(&self) -> PathBuf {
        let p = self.0.join("filler");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .expect("filler");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        // Then the blocks a buffered write cannot take: ext4 reserves blocks for a buffered
        // write's metadata at the worst case and gives back what the flush did not use, and
        // a direct write, or a growing one, would take them. `fallocate` takes them as
        // they are, 4 KiB (ext4's block) at a time at the end.
        let mut at = f.metadata().map_or(0, |m| m.len());
        for size in [1 << 20, 4096] {
            while rustix::fs::fallocate(&f, rustix::fs::FallocateFlags::empty(), at, size).is_ok() {
                at += size;
            }
        }
        p
    }
}

impl Drop for SmallDisk {
    /// Unmounted (lazily if still busy); a loop device mounted with `-o loop` goes with it.
    fn drop(&mut self) {
        let umount = |lazy: bool| {
            let mut c = std::process::Command::new("umount");
            if lazy {
                c.arg("-l");
            }
            c.arg(&self.0).status().is_ok_and(|s| s.success())
        };
        if !umount(false) {
            umount(true);
        }
    }
}
