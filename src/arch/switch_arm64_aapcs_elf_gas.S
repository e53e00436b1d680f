/*
 * src/arch/switch_arm64_aapcs_elf_gas.S — the coroutine context switch for
 * arm64 (AArch64), AAPCS64, ELF, GNU assembler syntax (Linux).
 *
 * Called only by src/coro.c, on the thread that runs the coroutine. The
 * functions know the first two words of struct cn_coro (coro.c checks the
 * offsets with static asserts):
 *
 *   CO_SP    0x00  saved sp of the coroutine while it is suspended
 *   CO_BACK  0x08  saved sp of its resumer while the coroutine runs
 *
 * Saved frame, addressed from the saved sp (16-byte aligned, 0xb0 bytes):
 *
 *   offset  contents
 *    0x00   d8
 *    0x08   d9
 *    0x10   d10
 *    0x18   d11
 *    0x20   d12
 *    0x28   d13
 *    0x30   d14
 *    0x38   d15
 *    0x40   x19
 *    0x48   x20
 *    0x50   x21
 *    0x58   x22
 *    0x60   x23
 *    0x68   x24
 *    0x70   x25
 *    0x78   x26
 *    0x80   x27
 *    0x88   x28
 *    0x90   x29 (fp)
 *    0x98   x30 (lr: where the context continues)
 *    0xa0   FPCR (rounding mode, flush-to-zero, default NaN)
 *    0xa8   (padding)
 *    0xb0   (the suspended caller's frame)
 *
 * FPCR is not in the AAPCS64 callee-saved list, but its mode fields are
 * "preserved unless the routine is documented to change them"; keeping it
 * per coroutine makes fesetround() in one coroutine invisible to the others,
 * as MXCSR does on x86_64. Writing FPCR can be slow, so it is written only
 * when it differs.
 *
 * x18 is never touched: it is the platform register on Apple and some
 * other systems.
 *
 * A context continues with `br x30` rather than `ret`: every switch returns
 * somewhere other than where its call came from, which the return-address
 * predictor would miss on every switch.
 *
 * A new coroutine's frame is made by cn__switch_prepare(): x30 is
 * cn__switch_trampoline, x19 holds the cn_coro, x29 is zero, so
 * frame-pointer walkers and the CFI unwinder (x30 undefined in the
 * trampoline) both stop at the coroutine's first frame.
 */

#define CO_SP   0x00
#define CO_BACK 0x08
#define FRAME   0xb0

	.text

/*
 * int cn__switch_in(cn_coro *co)
 * Resume: saves the resumer's context, stores its sp in co->back, continues
 * co from co->sp. co's cn_coro_yield() returns 0; when co yields, this call
 * returns 1 (see cn__switch_out).
 */
	.globl	cn__switch_in
	.hidden	cn__switch_in
	.type	cn__switch_in, %function
	.p2align 4
cn__switch_in:
	.cfi_startproc
	sub	sp, sp, #FRAME		/* room for the frame              */
	.cfi_adjust_cfa_offset FRAME
	stp	d8, d9, [sp, #0x00]	/* 0x00: d8, 0x08: d9              */
	stp	d10, d11, [sp, #0x10]	/* 0x10: d10, 0x18: d11            */
	stp	d12, d13, [sp, #0x20]	/* 0x20: d12, 0x28: d13            */
	stp	d14, d15, [sp, #0x30]	/* 0x30: d14, 0x38: d15            */
	stp	x19, x20, [sp, #0x40]	/* 0x40: x19, 0x48: x20            */
	stp	x21, x22, [sp, #0x50]	/* 0x50: x21, 0x58: x22            */
	stp	x23, x24, [sp, #0x60]	/* 0x60: x23, 0x68: x24            */
	stp	x25, x26, [sp, #0x70]	/* 0x70: x25, 0x78: x26            */
	stp	x27, x28, [sp, #0x80]	/* 0x80: x27, 0x88: x28            */
	stp	x29, x30, [sp, #0x90]	/* 0x90: fp, 0x98: lr              */
	mrs	x9, fpcr		/* resumer's FPCR                  */
	str	x9, [sp, #0xa0]		/* 0xa0: FPCR                      */
	mov	x10, sp			/* sp cannot be stored directly    */
	str	x10, [x0, #CO_BACK]	/* co->back = resumer's sp         */
	ldr	x10, [x0, #CO_SP]	/* co's saved sp                   */
	mov	sp, x10			/* continue on co's stack          */
	ldr	x10, [sp, #0xa0]	/* 0xa0: co's FPCR                 */
	cmp	x9, x10			/* same modes as the resumer?      */
	b.eq	1f			/* then skip the slow FPCR write   */
	msr	fpcr, x10		/* co's FPCR                       */
1:	ldp	d8, d9, [sp, #0x00]	/* 0x00: d8, 0x08: d9              */
	ldp	d10, d11, [sp, #0x10]	/* 0x10: d10, 0x18: d11            */
	ldp	d12, d13, [sp, #0x20]	/* 0x20: d12, 0x28: d13            */
	ldp	d14, d15, [sp, #0x30]	/* 0x30: d14, 0x38: d15            */
	ldp	x19, x20, [sp, #0x40]	/* 0x40: x19, 0x48: x20            */
	ldp	x21, x22, [sp, #0x50]	/* 0x50: x21, 0x58: x22            */
	ldp	x23, x24, [sp, #0x60]	/* 0x60: x23, 0x68: x24            */
	ldp	x25, x26, [sp, #0x70]	/* 0x70: x25, 0x78: x26            */
	ldp	x27, x28, [sp, #0x80]	/* 0x80: x27, 0x88: x28            */
	ldp	x29, x30, [sp, #0x90]	/* 0x90: fp, 0x98: where co goes   */
	add	sp, sp, #FRAME		/* pop the frame                   */
	mov	w0, #0			/* co's cn_coro_yield() returns 0  */
	br	x30			/* continue co                     */
	.cfi_endproc
	.size	cn__switch_in, .-cn__switch_in

/*
 * int cn__switch_out(cn_coro *co)
 * Yield: saves co's context, stores its sp in co->sp, continues the resumer
 * from co->back, whose cn__switch_in() returns 1. Returns 0 in co when it is
 * resumed again.
 */
	.globl	cn__switch_out
	.hidden	cn__switch_out
	.type	cn__switch_out, %function
	.p2align 4
cn__switch_out:
	.cfi_startproc
	sub	sp, sp, #FRAME		/* room for the frame              */
	.cfi_adjust_cfa_offset FRAME
	stp	d8, d9, [sp, #0x00]	/* 0x00: d8, 0x08: d9              */
	stp	d10, d11, [sp, #0x10]	/* 0x10: d10, 0x18: d11            */
	stp	d12, d13, [sp, #0x20]	/* 0x20: d12, 0x28: d13            */
	stp	d14, d15, [sp, #0x30]	/* 0x30: d14, 0x38: d15            */
	stp	x19, x20, [sp, #0x40]	/* 0x40: x19, 0x48: x20            */
	stp	x21, x22, [sp, #0x50]	/* 0x50: x21, 0x58: x22            */
	stp	x23, x24, [sp, #0x60]	/* 0x60: x23, 0x68: x24            */
	stp	x25, x26, [sp, #0x70]	/* 0x70: x25, 0x78: x26            */
	stp	x27, x28, [sp, #0x80]	/* 0x80: x27, 0x88: x28            */
	stp	x29, x30, [sp, #0x90]	/* 0x90: fp, 0x98: lr              */
	mrs	x9, fpcr		/* co's FPCR                       */
	str	x9, [sp, #0xa0]		/* 0xa0: FPCR                      */
	mov	x10, sp			/* sp cannot be stored directly    */
	str	x10, [x0, #CO_SP]	/* co->sp = co's sp                */
	ldr	x10, [x0, #CO_BACK]	/* the resumer's saved sp          */
	mov	sp, x10			/* back to the resumer's stack     */
	ldr	x10, [sp, #0xa0]	/* 0xa0: resumer's FPCR            */
	cmp	x9, x10			/* same modes as co?               */
	b.eq	1f			/* then skip the slow FPCR write   */
	msr	fpcr, x10		/* resumer's FPCR                  */
1:	ldp	d8, d9, [sp, #0x00]	/* 0x00: d8, 0x08: d9              */
	ldp	d10, d11, [sp, #0x10]	/* 0x10: d10, 0x18: d11            */
	ldp	d12, d13, [sp, #0x20]	/* 0x20: d12, 0x28: d13            */
	ldp	d14, d15, [sp, #0x30]	/* 0x30: d14, 0x38: d15            */
	ldp	x19, x20, [sp, #0x40]	/* 0x40: x19, 0x48: x20            */
	ldp	x21, x22, [sp, #0x50]	/* 0x50: x21, 0x58: x22            */
	ldp	x23, x24, [sp, #0x60]	/* 0x60: x23, 0x68: x24            */
	ldp	x25, x26, [sp, #0x70]	/* 0x70: x25, 0x78: x26            */
	ldp	x27, x28, [sp, #0x80]	/* 0x80: x27, 0x88: x28            */
	ldp	x29, x30, [sp, #0x90]	/* 0x90: fp, 0x98: resumer's return */
	add	sp, sp, #FRAME		/* pop the frame                   */
	mov	w0, #1			/* resumer's switch_in returns 1   */
	br	x30			/* continue the resumer            */
	.cfi_endproc
	.size	cn__switch_out, .-cn__switch_out

/*
 * void cn__switch_exit(cn_coro *co)   (does not return)
 * co has finished: continues its resumer from co->back, whose
 * cn__switch_in() returns 0. Nothing of co is saved; its stack is dead.
 */
	.globl	cn__switch_exit
	.hidden	cn__switch_exit
	.type	cn__switch_exit, %function
	.p2align 4
cn__switch_exit:
	.cfi_startproc
	ldr	x10, [x0, #CO_BACK]	/* the resumer's saved sp          */
	mov	sp, x10			/* back to the resumer's stack     */
	ldr	x10, [sp, #0xa0]	/* 0xa0: resumer's FPCR            */
	mrs	x9, fpcr		/* co's FPCR                       */
	cmp	x9, x10			/* same modes?                     */
	b.eq	1f			/* then skip the slow FPCR write   */
	msr	fpcr, x10		/* resumer's FPCR                  */
1:	ldp	d8, d9, [sp, #0x00]	/* 0x00: d8, 0x08: d9              */
	ldp	d10, d11, [sp, #0x10]	/* 0x10: d10, 0x18: d11            */
	ldp	d12, d13, [sp, #0x20]	/* 0x20: d12, 0x28: d13            */
	ldp	d14, d15, [sp, #0x30]	/* 0x30: d14, 0x38: d15            */
	ldp	x19, x20, [sp, #0x40]	/* 0x40: x19, 0x48: x20            */
	ldp	x21, x22, [sp, #0x50]	/* 0x50: x21, 0x58: x22            */
	ldp	x23, x24, [sp, #0x60]	/* 0x60: x23, 0x68: x24            */
	ldp	x25, x26, [sp, #0x70]	/* 0x70: x25, 0x78: x26            */
	ldp	x27, x28, [sp, #0x80]	/* 0x80: x27, 0x88: x28            */
	ldp	x29, x30, [sp, #0x90]	/* 0x90: fp, 0x98: resumer's return */
	add	sp, sp, #FRAME		/* pop the frame                   */
	mov	w0, #0			/* resumer's switch_in returns 0   */
	br	x30			/* continue the resumer            */
	.cfi_endproc
	.size	cn__switch_exit, .-cn__switch_exit

/*
 * void *cn__switch_prepare(void *top, cn_coro *co)
 * Builds a new coroutine's first frame just below top (16-byte aligned) and
 * returns the sp to store in co->sp: every register zero except x19 = co
 * and x30 = cn__switch_trampoline, and the creator's FPCR, so a coroutine
 * starts with the floating-point modes of the thread that created it.
 */
	.globl	cn__switch_prepare
	.hidden	cn__switch_prepare
	.type	cn__switch_prepare, %function
	.p2align 4
cn__switch_prepare:
	.cfi_startproc
	sub	x2, x0, #FRAME		/* the returned sp                 */
	stp	xzr, xzr, [x2, #0x00]	/* 0x00: d8, 0x08: d9 = 0          */
	stp	xzr, xzr, [x2, #0x10]	/* 0x10: d10, 0x18: d11 = 0        */
	stp	xzr, xzr, [x2, #0x20]	/* 0x20: d12, 0x28: d13 = 0        */
	stp	xzr, xzr, [x2, #0x30]	/* 0x30: d14, 0x38: d15 = 0        */
	stp	x1, xzr, [x2, #0x40]	/* 0x40: x19 = co, 0x48: x20 = 0   */
	stp	xzr, xzr, [x2, #0x50]	/* 0x50: x21, 0x58: x22 = 0        */
	stp	xzr, xzr, [x2, #0x60]	/* 0x60: x23, 0x68: x24 = 0        */
	stp	xzr, xzr, [x2, #0x70]	/* 0x70: x25, 0x78: x26 = 0        */
	stp	xzr, xzr, [x2, #0x80]	/* 0x80: x27, 0x88: x28 = 0        */
	adr	x3, cn__switch_trampoline /* the first resume point        */
	stp	xzr, x3, [x2, #0x90]	/* 0x90: fp = 0, 0x98: trampoline  */
	mrs	x4, fpcr		/* the creator's FPCR              */
	stp	x4, xzr, [x2, #0xa0]	/* 0xa0: FPCR, 0xa8: padding       */
	mov	x0, x2			/* return the sp                   */
	ret
	.cfi_endproc
	.size	cn__switch_prepare, .-cn__switch_prepare

/*
 * The first code a coroutine runs, with sp = top and x19 = co. The CFI
 * marks the return address undefined: this is the outermost frame of the
 * coroutine's stack, so gdb and _Unwind_Backtrace() stop here. fp and lr
 * are zero, so frame-record walkers stop too.
 */
	.type	cn__switch_trampoline, %function
	.p2align 4
cn__switch_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x29, #0			/* end of the frame-record chain   */
	mov	x30, #0			/* no return address               */
	mov	x0, x19			/* cn__coro_entry(co)              */
	bl	cn__coro_entry		/* runs fn(arg), never returns     */
	brk	#0			/* cn__coro_entry switched away    */
	.cfi_endproc
	.size	cn__switch_trampoline, .-cn__switch_trampoline

	.section .note.GNU-stack,"",%progbits
