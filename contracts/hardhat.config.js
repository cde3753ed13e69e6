// Hardhat 2 configuration, used only to run a local JSON-RPC node for the chain client's
// tests (`npx hardhat node`); contracts are compiled by compile.js with the pinned solc.
// The test hands in a fresh funded key and the chain id through the environment.
const key = process.env.DALRN_HARDHAT_KEY;
const intervalMs = Number(process.env.DALRN_HARDHAT_INTERVAL_MS || 0);

module.exports = {
  networks: {
    hardhat: {
      chainId: Number(process.env.DALRN_HARDHAT_CHAIN_ID || 31337),
      accounts: key ? [{ privateKey: key, balance: "1000000000000000000000000" }] : undefined,
      mining: { auto: true, interval: intervalMs > 0 ? intervalMs : undefined },
    },
  },
};
