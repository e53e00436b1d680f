/*
 * examples/tree_walk.c — a generator made from plain recursion.
 *
 * A recursive preorder walk of a binary tree runs inside a coroutine and
 * yields each node's value; the caller just resumes it and prints what comes
 * back. The walk is ordinary recursion: the coroutine's own stack keeps its
 * place between values, which is what makes coroutines "stackful".
 *
 * Usage: tree_walk [N]   (N keys, default 15; the tree is built balanced)
 * Single-threaded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coronet.h>

struct node {
	long key;
	struct node *left, *right;
};

/* A balanced tree over keys lo..hi. */
static struct node *build(long lo, long hi)
{
	if (lo > hi)
		return NULL;
	long mid = lo + (hi - lo) / 2;
	struct node *n = malloc(sizeof(*n));
	if (!n) {
		perror("malloc");
		exit(1);
	}
	n->key = mid;
	n->left = build(lo, mid - 1);
	n->right = build(mid + 1, hi);
	return n;
}

static void free_tree(struct node *n)
{
	if (!n)
		return;
	free_tree(n->left);
	free_tree(n->right);
	free(n);
}

/* The whole generator: preorder, yielding each node. */
static void preorder(const struct node *n)
{
	if (!n)
		return;
	cn_coro_yield((void *)n);
	preorder(n->left);
	preorder(n->right);
}

static void walk(void *root)
{
	preorder(root);
}

static int depth_of(const struct node *n)
{
	if (!n)
		return 0;
	int l = depth_of(n->left), r = depth_of(n->right);
	return 1 + (l > r ? l : r);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 15;
	if (n < 1 || n > 10000000) {
		fprintf(stderr, "usage: %s [N]  (1..10000000 keys)\n", argv[0]);
		return 2;
	}
	struct node *root = build(1, n);

	cn_coro *co = cn_coro_create(walk, root, &(cn_coro_opts){ .name = "tree_walk" });
	if (!co) {
		fprintf(stderr, "cn_coro_create: %s\n", strerror(errno));
		return 1;
	}
	printf("preorder walk of a balanced tree of %ld keys (depth %d), one value per resume:\n",
	       n, depth_of(root));

	long count = 0, sum = 0;
	void *v;
	int r;
	while ((r = cn_coro_resume(co, &v)) == 1) {
		const struct node *node = v;
		if (n <= 64)
			printf("%s%ld", count ? " " : "  ", node->key);
		count++;
		sum += node->key;
	}
	if (n <= 64)
		putchar('\n');
	if (r != 0) {
		fprintf(stderr, "cn_coro_resume: %s\n", strerror(errno));
		return 1;
	}
	printf("coroutine '%s' finished: %ld nodes, key sum %ld (expected %ld)\n", cn_coro_name(co),
	       count, sum, n * (n + 1) / 2);
	cn_coro_destroy(co);
	free_tree(root);
	return count == n && sum == n * (n + 1) / 2 ? 0 : 1;
}
