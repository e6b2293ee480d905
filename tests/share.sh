# share.sh -- sourced by the test scripts: a list of jobs shared by workers.
#
# share_list DIR WORKERS FN ITEM...: WORKERS workers at once run "FN ITEM N"
# for every ITEM (N: its place in the list, 1, 2, ...), each item once, in
# list order: a worker takes the next item no other has taken (mkdir
# DIR/N, which is atomic) as soon as its last one ends, so that none idles
# while another has a queue (a fixed split, or batches of WORKERS, wait for
# the slowest). Returns when all are done. DIR is made afresh.
share_list() {
    _dir=$1 _workers=$2 _fn=$3
    shift 3
    rm -rf "$_dir"
    mkdir -p "$_dir"
    _i=0
    while [ "$_i" -lt "$_workers" ]; do
        (_k=0
         for _item in "$@"; do
             _k=$((_k + 1))
             if mkdir "$_dir/$_k" 2>/dev/null; then "$_fn" "$_item" "$_k"; fi
         done) &
        _i=$((_i + 1))
    done
    wait
}
