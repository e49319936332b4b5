"""RFC 9162 Merkle tree hashing and proofs: the published RFC 6962/9162 test vectors (the ones
Certificate Transparency implementations test against), the corrupted-proof probes every verifier
must refuse, and hypothesis properties (every inclusion and consistency proof verifies; a changed
leaf, root, size or path element does not)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zkmargin.verifier.log.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# The reference vectors (leaf inputs, the root of every prefix, and proofs) published with the
# RFC 6962 test suites of Certificate Transparency implementations.
LEAVES = [h(""), h("00"), h("10"), h("2021"), h("3031"), h("40414243"), h("5051525354555657"),
          h("606162636465666768696a6b6c6d6e6f")]
ROOTS = [  # by tree size 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
LEAF_HASHES = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
    h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
    h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
    h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
    h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
]
# (leaf index 0-based, tree size, audit path)
INCLUSION = [
    (0, 1, []),
    (0, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (5, 8, [h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (1, 5, [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
]
# (old size, new size, consistency proof)
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]),
    (6, 8, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
    (2, 5, [h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")]),
    (6, 7, [h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")]),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def tree():
    return MerkleTree(leaf_hash(d) for d in LEAVES)


def test_leaf_and_node_hashes_have_domain_separation():
    assert [leaf_hash(d) for d in LEAVES] == LEAF_HASHES
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == ROOTS[0]
    a, b = LEAF_HASHES[0], LEAF_HASHES[1]
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest() == ROOTS[2]
    # the twin: without the prefixes a leaf could pose as a node (second preimage)
    assert leaf_hash(a + b) != node_hash(a, b)


def test_roots_of_every_prefix(tree):
    assert [tree.root(n) for n in range(9)] == ROOTS
    cr = CompactRange()
    assert cr.root() == ROOTS[0]
    for n, d in enumerate(LEAVES, start=1):
        cr.append(leaf_hash(d))
        assert cr.root() == ROOTS[n] == MerkleTree(LEAF_HASHES[:n]).root()
    assert tree.root(7) != ROOTS[8]


@pytest.mark.parametrize("index,size,path", INCLUSION)
def test_inclusion_vectors(tree, index, size, path):
    assert tree.inclusion_proof(index, size) == path
    leaf = LEAF_HASHES[index]
    assert verify_inclusion(leaf, index, size, path, ROOTS[size])
    assert root_from_inclusion_proof(index, size, leaf, path) == ROOTS[size]


@pytest.mark.parametrize("index,size,path", [v for v in INCLUSION if v[2]])
def test_corrupted_inclusion_proofs_fail(index, size, path):
    leaf, root = LEAF_HASHES[index], ROOTS[size]
    probes = [
        (index - 1, size, leaf, path, root), (index + 1, size, leaf, path, root),
        (index ^ 2, size, leaf, path, root), (index, size * 2, leaf, path, root),
        (index, size // 2, leaf, path, root), (index, size, SOME_HASH, path, root),
        (index, size, leaf, path, EMPTY_ROOT), (index, size, leaf, path, SOME_HASH),
        (index, size, leaf, path + [b""], root), (index, size, leaf, path + [root], root),
        (index, size, leaf, [b""] + path, root), (index, size, leaf, [root] + path, root),
        (index, size, leaf, path[:-1], root), (index, size, leaf, [path[0], SOME_HASH] + path[1:], root),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, leaf, flipped, root))
    for p in probes:
        assert not verify_inclusion(p[2], p[0], p[1], p[3], p[4]), p[:2]


@pytest.mark.parametrize("old,new,proof", CONSISTENCY)
def test_consistency_vectors(tree, old, new, proof):
    assert tree.consistency_proof(old, new) == proof
    assert verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize("old,new,proof", [v for v in CONSISTENCY if v[2]])
def test_corrupted_consistency_proofs_fail(old, new, proof):
    r1, r2 = ROOTS[old], ROOTS[new]
    probes = [
        (old - 1, new, r1, r2, proof), (old + 1, new, r1, r2, proof), (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof), (old, new // 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof), (old, new, r1, SOME_HASH, proof), (old, new, r2, r1, proof),
        (old, new, r1, r2, []), (old, new, r1, r2, proof + [b""]), (old, new, r1, r2, proof + [r1]),
        (old, new, r1, r2, proof + [r2]), (old, new, r1, r2, [b""] + proof), (old, new, r1, r2, [r1] + proof),
        (old, new, r1, r2, [r2] + proof), (old, new, r1, r2, [proof[0]] + proof), (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for p in probes:
        assert not verify_consistency(*p), p[:2]


def test_edge_sizes():
    # sizes that are always consistent, and the ones that never are
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    assert verify_consistency(3, 3, ROOTS[3], ROOTS[3], [])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])
    assert not verify_consistency(3, 3, ROOTS[3], ROOTS[3], [EMPTY_ROOT])
    assert not verify_consistency(0, 5, SOME_HASH, ROOTS[5], [])
    assert not verify_consistency(2, 1, ROOTS[2], ROOTS[1], [])  # time travel to the past
    assert not verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])  # empty proof
    for index, size in ((0, 0), (1, 0), (2, 1), (-1, 3)):
        assert not verify_inclusion(SOME_HASH, index, size, [], SOME_HASH)
    assert verify_inclusion(LEAF_HASHES[0], 0, 1, [], ROOTS[1])
    assert not verify_inclusion(b"", 0, 1, [], ROOTS[1])
    with pytest.raises(ValueError):
        MerkleTree(LEAF_HASHES[:3]).inclusion_proof(3, 3)
    with pytest.raises(ValueError):
        MerkleTree(LEAF_HASHES[:3]).consistency_proof(4)
    with pytest.raises(ValueError):
        CompactRange(3, [SOME_HASH])  # size 3 has two peaks


# --- properties ----------------------------------------------------------------------------------

leaves_st = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(leaves_st, st.data())
def test_every_inclusion_proof_verifies_and_a_changed_leaf_does_not(data_leaves, data):
    t = MerkleTree(leaf_hash(d) for d in data_leaves)
    size = data.draw(st.integers(1, t.size), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = t.inclusion_proof(index, size)
    root = t.root(size)
    assert verify_inclusion(t.leaf(index), index, size, proof, root)
    assert not verify_inclusion(leaf_hash(data_leaves[index] + b"x"), index, size, proof, root)
    assert not verify_inclusion(t.leaf(index), index, index, proof, root)  # a size too small for it
    if proof:
        assert not verify_inclusion(t.leaf(index), index, size, proof[:-1], root)
        assert not verify_inclusion(t.leaf(index), index, size, proof + [root], root)


@settings(max_examples=60, deadline=None)
@given(leaves_st, st.data())
def test_every_consistency_proof_verifies_and_a_changed_prefix_does_not(data_leaves, data):
    t = MerkleTree(leaf_hash(d) for d in data_leaves)
    new = data.draw(st.integers(1, t.size), label="new")
    old = data.draw(st.integers(1, new), label="old")
    proof = t.consistency_proof(old, new)
    assert verify_consistency(old, new, t.root(old), t.root(new), proof)
    # the old tree with one leaf changed is not a prefix of the new one
    i = data.draw(st.integers(0, old - 1), label="changed leaf")
    forged = list(data_leaves[:old])
    forged[i] = forged[i] + b"x"
    forged_root = MerkleTree(leaf_hash(d) for d in forged).root()
    assert not verify_consistency(old, new, forged_root, t.root(new), proof)
    if old < new:
        assert not verify_consistency(old, new, t.root(old), t.root(new), proof[:-1])


@settings(max_examples=40, deadline=None)
@given(leaves_st)
def test_compact_range_matches_the_full_tree(data_leaves):
    t = MerkleTree()
    cr = CompactRange()
    for d in data_leaves:
        lh = leaf_hash(d)
        proof = cr.append(lh)
        t.append(lh)
        assert cr.root() == t.root()
        assert proof == t.inclusion_proof(t.size - 1)
    again = CompactRange.from_bytes(cr.size, cr.to_bytes())
    assert again.root() == cr.root()
