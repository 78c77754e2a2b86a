//! Cutting a chat prompt into chained block hashes.

/// Bytes of prompt text per block: about 64 tokens at the usual four characters per token, a common
/// block size of prefix caches (vLLM uses 16-token KV blocks but matches prefixes at any multiple).
pub const BLOCK_BYTES: usize = 256;

/// The hash of one prompt block and of every block before it.
pub type BlockHash = u64;

/// Builds the block hashes of a prompt from its messages, in order.
///
/// Each message contributes its role, a separator, its text and a terminator, so moving text from
/// one message to the next, or changing a role, changes the blocks from there on. Only full blocks
/// are hashed: a trailing partial block is not cacheable in an engine either.
#[derive(Debug, Clone)]
pub struct PromptBlocks {
    blocks: Vec<BlockHash>,
    /// The hash of the prefix up to the last full block.
    chain: u64,
    /// The running hash of the current, partial block (chained to `chain`).
    running: u64,
    /// Bytes in the current block so far.
    filled: usize,
}

/// The block hashes of a chat prompt given as `(role, text)` pairs: the one function the simulator
/// and routing both use, so their blocks agree.
pub fn prompt_blocks<'a>(messages: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<BlockHash> {
    let mut blocks = PromptBlocks::new();
    for (role, text) in messages {
        blocks.message(role, text);
    }
    blocks.finish()
}

/// FNV-1a's 64-bit parameters: a small, stable, well-spread hash. This is not a security boundary
/// (a collision only misplaces a cache hit), so a cryptographic hash would cost time for nothing.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Separates a role from its text, and ends a message: bytes that do not occur in ordinary text.
const ROLE_END: u8 = 0x1f;
const MESSAGE_END: u8 = 0x1e;

impl PromptBlocks {
    pub fn new() -> Self {
        PromptBlocks {
            blocks: Vec::new(),
            chain: FNV_OFFSET,
            running: FNV_OFFSET,
            filled: 0,
        }
    }

    /// Blocks of a prompt seen under `salt` (vLLM's `cache_salt`): every block hash depends on
    /// it, so equal prompts under two salts share no block, as in an engine whose cache is salted.
    pub fn salted(salt: &[u8]) -> Self {
        let mut seed = FNV_OFFSET;
        for &byte in salt {
            seed = (seed ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
        }
        let chain = mix(seed);
        PromptBlocks {
            chain,
            running: chain,
            ..PromptBlocks::new()
        }
    }

    /// Adds one message.
    pub fn message(&mut self, role: &str, text: &str) -> &mut Self {
        self.bytes(role.as_bytes());
        self.bytes(&[ROLE_END]);
        self.bytes(text.as_bytes());
        self.bytes(&[MESSAGE_END]);
        self
    }

    /// Adds raw prompt text with no message framing (a completion or fill-in-the-middle prompt).
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.bytes(text.as_bytes());
        self
    }

    /// The hashes of the full blocks so far.
    pub fn finish(self) -> Vec<BlockHash> {
        self.blocks
    }

    fn bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = BLOCK_BYTES - self.filled;
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            for &byte in now {
                self.running = (self.running ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
            }
            self.filled += now.len();
            if self.filled == BLOCK_BYTES {
                // Mixing the block's hash into the chain makes each hash stand for the whole prefix.
                self.chain = mix(self.chain ^ self.running);
                self.blocks.push(self.chain);
                self.running = self.chain;
                self.filled = 0;
            }
            bytes = later;
        }
    }
}

impl Default for PromptBlocks {
    fn default() -> Self {
        PromptBlocks::new()
    }
}

/// A finalizer (SplitMix64's) so that nearby FNV states spread over all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
