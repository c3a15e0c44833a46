//! Locks that survive a panic elsewhere.
//!
//! Why: the standard locks are *poisoned* when a thread panics while holding one, and
//! every later `lock()` returns an error. The code used to skip its work on that error
//! (`if let Ok(..) = lock()`), so one panic would silently stop, say, invalidation
//! acknowledgements or rebuild requests for the life of the process. Every lock taken
//! through this module guards data that each critical section leaves consistent (one
//! insert, one remove, one state change), so the right answer to poisoning is to log
//! it and carry on with the data.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

fn recovered<G>(error: PoisonError<G>) -> G {
    tracing::warn!("a lock was poisoned by a panic; carrying on with its data");
    error.into_inner()
}

/// A mutex's guard, poisoned or not.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(recovered)
}

/// A read guard, poisoned or not.
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(recovered)
}

/// A write guard, poisoned or not.
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(recovered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_data() {
        let shared = std::sync::Arc::new(Mutex::new(vec![1]));
        let poisoner = shared.clone();
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock();
            panic!("poison it");
        })
        .join();
        assert!(shared.lock().is_err(), "the lock is poisoned");
        lock(&shared).push(2);
        assert_eq!(*lock(&shared), [1, 2]);
    }
}
