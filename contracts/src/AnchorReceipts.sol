// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title AnchorReceipts
/// @notice Anchors Merkle roots over batches of DALRN proof-of-due-process receipts, so
///         anyone can check that a dispute's receipt chain existed when its batch was anchored.
/// @dev Leaves and proofs follow OpenZeppelin's SimpleMerkleTree (sorted-pair keccak256),
///      so inclusion is checked with OpenZeppelin's MerkleProof. The batch manifest URI only
///      lives in the event log: storage keeps what a view needs, which keeps gas per root low.
contract AnchorReceipts is AccessControl {
    /// @notice Role allowed to anchor roots.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @notice What the contract remembers about an anchored root (one storage slot).
    struct Anchor {
        uint64 anchoredAt;
        uint64 blockNumber;
        uint32 leafCount;
        uint64 flRound;
    }

    mapping(bytes32 root => Anchor) private _anchors;
    mapping(bytes32 root => bytes32) private _modelHashes;

    /// @notice Number of roots anchored so far; the next batch id.
    uint256 public batchCount;

    /// @notice Emitted for every anchored root.
    /// @param root Merkle root of the batch.
    /// @param batchId Sequential id of the batch on this contract.
    /// @param leafCount Number of receipts (leaves) in the batch.
    /// @param manifestUri Where the batch manifest (leaves and their disputes) is stored.
    /// @param modelHash Hash of the federated model of this batch, or zero.
    /// @param flRound Federated learning round of this batch, or zero.
    /// @param anchoredBy Account that anchored the root.
    event RootAnchored(
        bytes32 indexed root,
        uint256 indexed batchId,
        uint32 leafCount,
        string manifestUri,
        bytes32 modelHash,
        uint64 flRound,
        address indexed anchoredBy
    );

    /// @notice The zero root cannot be anchored.
    error ZeroRoot();
    /// @notice A batch must hold at least one receipt.
    error EmptyBatch();
    /// @notice The root was anchored before, at `anchoredAt`.
    error AlreadyAnchored(bytes32 root, uint64 anchoredAt);
    /// @notice The root was never anchored.
    error NotAnchored(bytes32 root);

    /// @param admin Account that administers roles and may anchor.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ANCHORER_ROLE, admin);
    }

    /// @notice Anchor the Merkle root of a batch of receipts.
    /// @param root Merkle root (OpenZeppelin SimpleMerkleTree rules).
    /// @param leafCount Number of leaves in the batch, at least one.
    /// @param manifestUri URI of the batch manifest (for example its content id).
    /// @param modelHash Hash of the federated model anchored with this batch, or zero.
    /// @param flRound Federated learning round, or zero.
    /// @return batchId Sequential id of this batch.
    function anchorRoot(
        bytes32 root,
        uint32 leafCount,
        string calldata manifestUri,
        bytes32 modelHash,
        uint64 flRound
    ) external onlyRole(ANCHORER_ROLE) returns (uint256 batchId) {
        if (root == bytes32(0)) revert ZeroRoot();
        if (leafCount == 0) revert EmptyBatch();
        Anchor storage existing = _anchors[root];
        if (existing.anchoredAt != 0) revert AlreadyAnchored(root, existing.anchoredAt);

        _anchors[root] = Anchor({
            anchoredAt: uint64(block.timestamp),
            blockNumber: uint64(block.number),
            leafCount: leafCount,
            flRound: flRound
        });
        if (modelHash != bytes32(0)) _modelHashes[root] = modelHash;
        batchId = batchCount++;
        emit RootAnchored(root, batchId, leafCount, manifestUri, modelHash, flRound, msg.sender);
    }

    /// @notice Whether `root` has been anchored.
    function isAnchored(bytes32 root) external view returns (bool) {
        return _anchors[root].anchoredAt != 0;
    }

    /// @notice The anchor record of `root` and its model hash; reverts if never anchored.
    function anchorOf(bytes32 root) external view returns (Anchor memory anchor, bytes32 modelHash) {
        anchor = _anchors[root];
        if (anchor.anchoredAt == 0) revert NotAnchored(root);
        modelHash = _modelHashes[root];
    }

    /// @notice Whether `leaf` belongs to the anchored batch `root`, given its inclusion proof.
    /// @dev Reverts with NotAnchored for an unknown root, so a valid proof against a root
    ///      that was never anchored is never mistaken for an anchored receipt.
    function verifyReceipt(bytes32 leaf, bytes32[] calldata proof, bytes32 root) external view returns (bool) {
        if (_anchors[root].anchoredAt == 0) revert NotAnchored(root);
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }
}
