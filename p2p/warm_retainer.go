package p2p

// retainer is n.cb.retainer(), looked up once: the codebase's store and
// its datastore are fixed when the node is made, and retainerFor's
// lookup (reflection, a weak pointer and the process-wide registry's
// lock) is otherwise paid by every foreign evaluation, under that one
// lock for every node of the process.
func (n *Node) retainer() *retainer {
	if r := n.ret.Load(); r != nil {
		return r
	}
	r := n.cb.retainer()
	n.ret.Store(r) // a racing lookup finds the same retainer
	return r
}
