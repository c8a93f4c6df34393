// The parts every data proxy shares: Clone, Debug, `new` and `local_refs`.
// Included textually by `client.rs` before the proxy modules.
macro_rules! proxy_common {
    ($name:ident < $($p:ident),* >) => {
        impl<$($p),*> Clone for $name<$($p),*> {
            fn clone(&self) -> Self {
                $name {
                    handle: self.handle.clone(),
                    _t: PhantomData,
                }
            }
        }

        impl<$($p),*> fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.handle)
            }
        }

        impl<$($p),*> $name<$($p),*> {
            pub(crate) fn new(handle: Handle) -> Self {
                $name {
                    handle,
                    _t: PhantomData,
                }
            }

            /// How many proxies of this object live in this process
            /// (clones count; the server holds one reference for all of them).
            pub fn local_refs(&self) -> usize {
                self.handle.local_refs()
            }
        }
    };
}
