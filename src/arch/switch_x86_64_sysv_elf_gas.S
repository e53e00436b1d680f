/*
 * src/arch/switch_x86_64_sysv_elf_gas.S — the coroutine context switch for
 * x86_64, System V ABI, ELF, GNU assembler syntax.
 *
 * Called only by src/coro.c, on the thread that runs the coroutine. The
 * functions know the first two words of struct cn_coro (coro.c checks the
 * offsets with static asserts):
 *
 *   CO_SP    0x00  saved sp of the coroutine while it is suspended
 *   CO_BACK  0x08  saved sp of its resumer while the coroutine runs
 *
 * Saved frame, addressed from the saved sp. A context is suspended inside
 * one of the switch functions, so the word above the frame is the return
 * address its call pushed. MXCSR and the x87 control word go below the saved
 * sp, into the red zone of the stack being suspended: no code runs on that
 * stack until it is resumed, so the 128 bytes under its sp are ours and the
 * save costs no sp adjustment.
 *
 *   offset  contents
 *   -0x08   MXCSR            (32 bits)
 *   -0x04   x87 control word (16 bits)
 *    0x00   r15
 *    0x08   r14
 *    0x10   r13
 *    0x18   r12
 *    0x20   rbx
 *    0x28   rbp
 *    0x30   return address   (where the context continues)
 *    0x38   (the suspended caller's frame)
 *
 * Loading MXCSR is the dearest part of a switch (ldmxcsr is microcoded:
 * it made a round trip about a third slower), and both sides almost always
 * have the same modes. So the switch reads back the MXCSR it just saved
 * (a 4-byte load of a 4-byte store, which the store buffer forwards),
 * compares it with the other side's, and loads only on a difference, out
 * of line. The status bits of MXCSR (0-5, the sticky exception flags) are
 * caller-saved in the ABI: when only they differ nothing is loaded, the
 * flags stay with the thread, and both sides' words agree again from the
 * next switch on. The x87 control word is loaded every time: fldcw is cheap
 * next to ldmxcsr, and comparing it too would cost more instructions than
 * it saves time.
 *
 * A context returns with `pop; jmp *` rather than `ret`: every switch
 * returns somewhere other than where its call came from, which `ret` would
 * mispredict through the return stack buffer on every switch; an indirect
 * jump is predicted from its own history.
 *
 * A new coroutine's frame is made by cn__switch_prepare(): its "return
 * address" is cn__switch_trampoline, r12 holds the cn_coro, rbp is zero and
 * the two words above the trampoline's sp are zero, so frame-pointer walkers
 * and the CFI unwinder (rip undefined in the trampoline) both stop there.
 */

#define CO_SP   0x00
#define CO_BACK 0x08

	.text

/*
 * int cn__switch_in(cn_coro *co)
 * Resume: saves the resumer's context, stores its sp in co->back, continues
 * co from co->sp. Returns (in co) 0: the return value of co's
 * cn_coro_yield(). When co yields, this call returns 1 (see switch_out).
 */
	.globl	cn__switch_in
	.hidden	cn__switch_in
	.type	cn__switch_in, @function
	.p2align 4
cn__switch_in:
	.cfi_startproc
	pushq	%rbp			/* 0x28: rbp                        */
	.cfi_adjust_cfa_offset 8
	pushq	%rbx			/* 0x20: rbx                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r12			/* 0x18: r12                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r13			/* 0x10: r13                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r14			/* 0x08: r14                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r15			/* 0x00: r15                        */
	.cfi_adjust_cfa_offset 8
	stmxcsr	-0x08(%rsp)		/* -0x08: MXCSR, in the red zone     */
	fnstcw	-0x04(%rsp)		/* -0x04: x87 control word           */
	movl	-0x08(%rsp), %eax	/* resumer's MXCSR, read back        */
	movq	%rsp, CO_BACK(%rdi)	/* co->back = resumer's sp           */
	movq	CO_SP(%rdi), %rsp	/* continue on co's stack            */
	cmpl	-0x08(%rsp), %eax	/* co's MXCSR the same?              */
	jne	.Lmodes_in		/* no: load it, out of line          */
.Lmodes_in_done:
	fldcw	-0x04(%rsp)		/* co's x87 control word             */
	popq	%r15			/* 0x00: r15                        */
	popq	%r14			/* 0x08: r14                        */
	popq	%r13			/* 0x10: r13                        */
	popq	%r12			/* 0x18: r12                        */
	popq	%rbx			/* 0x20: rbx                        */
	popq	%rbp			/* 0x28: rbp                        */
	popq	%rcx			/* 0x30: where co continues          */
	xorl	%eax, %eax		/* co's cn_coro_yield() returns 0    */
	jmpq	*%rcx			/* continue co                       */
.Lmodes_in:
	xorl	-0x08(%rsp), %eax	/* which bits differ?                */
	testl	$0xffc0, %eax		/* any control bit (not a flag)?     */
	jz	.Lmodes_in_done		/* only sticky flags: keep ours      */
	ldmxcsr	-0x08(%rsp)		/* co's MXCSR                        */
	jmp	.Lmodes_in_done
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
	.type	cn__switch_out, @function
	.p2align 4
cn__switch_out:
	.cfi_startproc
	pushq	%rbp			/* 0x28: rbp                        */
	.cfi_adjust_cfa_offset 8
	pushq	%rbx			/* 0x20: rbx                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r12			/* 0x18: r12                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r13			/* 0x10: r13                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r14			/* 0x08: r14                        */
	.cfi_adjust_cfa_offset 8
	pushq	%r15			/* 0x00: r15                        */
	.cfi_adjust_cfa_offset 8
	stmxcsr	-0x08(%rsp)		/* -0x08: MXCSR, in the red zone     */
	fnstcw	-0x04(%rsp)		/* -0x04: x87 control word           */
	movl	-0x08(%rsp), %eax	/* co's MXCSR, read back             */
	movq	%rsp, CO_SP(%rdi)	/* co->sp = co's sp                  */
	movq	CO_BACK(%rdi), %rsp	/* back to the resumer's stack       */
	cmpl	-0x08(%rsp), %eax	/* resumer's MXCSR the same?         */
	jne	.Lmodes_out		/* no: load it, out of line          */
.Lmodes_out_done:
	fldcw	-0x04(%rsp)		/* resumer's x87 control word        */
	popq	%r15			/* 0x00: r15                        */
	popq	%r14			/* 0x08: r14                        */
	popq	%r13			/* 0x10: r13                        */
	popq	%r12			/* 0x18: r12                        */
	popq	%rbx			/* 0x20: rbx                        */
	popq	%rbp			/* 0x28: rbp                        */
	popq	%rcx			/* 0x30: where the resumer continues */
	movl	$1, %eax		/* resumer's switch_in returns 1     */
	jmpq	*%rcx			/* continue the resumer              */
.Lmodes_out:
	xorl	-0x08(%rsp), %eax	/* which bits differ?                */
	testl	$0xffc0, %eax		/* any control bit (not a flag)?     */
	jz	.Lmodes_out_done		/* only sticky flags: keep ours      */
	ldmxcsr	-0x08(%rsp)		/* resumer's MXCSR                   */
	jmp	.Lmodes_out_done
	.cfi_endproc
	.size	cn__switch_out, .-cn__switch_out

/*
 * void cn__switch_exit(cn_coro *co)   (does not return)
 * co has finished: continues its resumer from co->back, whose
 * cn__switch_in() returns 0. Nothing of co is saved; its stack is dead,
 * and the resumer's modes are loaded unconditionally (once per coroutine).
 */
	.globl	cn__switch_exit
	.hidden	cn__switch_exit
	.type	cn__switch_exit, @function
	.p2align 4
cn__switch_exit:
	.cfi_startproc
	movq	CO_BACK(%rdi), %rsp	/* back to the resumer's stack       */
	ldmxcsr	-0x08(%rsp)		/* resumer's MXCSR                   */
	fldcw	-0x04(%rsp)		/* resumer's x87 control word        */
	popq	%r15			/* 0x00: r15                        */
	popq	%r14			/* 0x08: r14                        */
	popq	%r13			/* 0x10: r13                        */
	popq	%r12			/* 0x18: r12                        */
	popq	%rbx			/* 0x20: rbx                        */
	popq	%rbp			/* 0x28: rbp                        */
	popq	%rcx			/* 0x30: where the resumer continues */
	xorl	%eax, %eax		/* resumer's switch_in returns 0     */
	jmpq	*%rcx			/* continue the resumer              */
	.cfi_endproc
	.size	cn__switch_exit, .-cn__switch_exit

/*
 * void *cn__switch_prepare(void *top, cn_coro *co)
 * Builds a new coroutine's first frame below top (16-byte aligned) and
 * returns the sp to store in co->sp. The frame holds the caller's MXCSR and
 * x87 control word, so a coroutine starts with the floating-point modes of
 * the thread that created it.
 *
 *   top-0x08  0                        } what the trampoline sees above its
 *   top-0x10  0                        } sp: a null return address and frame
 *   top-0x18  cn__switch_trampoline    } 0x30: return address
 *   top-0x20  0                        } 0x28: rbp (ends the frame chain)
 *   top-0x28  0                        } 0x20: rbx
 *   top-0x30  co                       } 0x18: r12, the trampoline's argument
 *   top-0x38  0                        } 0x10: r13
 *   top-0x40  0                        } 0x08: r14
 *   top-0x48  0                        } 0x00: r15  <- returned sp
 *   top-0x50  MXCSR, x87 control word  } -0x08, -0x04
 *
 * After the switch pops 0x38 bytes the trampoline runs with sp = top-0x10,
 * 16-byte aligned, so its call leaves the entry function with the ABI's
 * alignment.
 */
	.globl	cn__switch_prepare
	.hidden	cn__switch_prepare
	.type	cn__switch_prepare, @function
	.p2align 4
cn__switch_prepare:
	.cfi_startproc
	leaq	-0x48(%rdi), %rax	/* the returned sp                   */
	xorl	%ecx, %ecx		/* zero for the words below          */
	movq	%rcx, 0x40(%rax)	/* top-0x08: 0                       */
	movq	%rcx, 0x38(%rax)	/* top-0x10: 0                       */
	leaq	cn__switch_trampoline(%rip), %rdx /* the first resume point  */
	movq	%rdx, 0x30(%rax)	/* 0x30: return address              */
	movq	%rcx, 0x28(%rax)	/* 0x28: rbp = 0                     */
	movq	%rcx, 0x20(%rax)	/* 0x20: rbx = 0                     */
	movq	%rsi, 0x18(%rax)	/* 0x18: r12 = co                    */
	movq	%rcx, 0x10(%rax)	/* 0x10: r13 = 0                     */
	movq	%rcx, 0x08(%rax)	/* 0x08: r14 = 0                     */
	movq	%rcx, 0x00(%rax)	/* 0x00: r15 = 0                     */
	stmxcsr	-0x08(%rax)		/* -0x08: creator's MXCSR            */
	fnstcw	-0x04(%rax)		/* -0x04: creator's x87 control word */
	ret
	.cfi_endproc
	.size	cn__switch_prepare, .-cn__switch_prepare

/*
 * The first code a coroutine runs. r12 = co (from the prepared frame). The
 * CFI marks the return address undefined: this is the outermost frame of
 * the coroutine's stack, so gdb and _Unwind_Backtrace() stop here instead of
 * walking into whatever lies above the stack top.
 */
	.type	cn__switch_trampoline, @function
	.p2align 4
cn__switch_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r12, %rdi		/* cn__coro_entry(co)                */
	call	cn__coro_entry		/* runs fn(arg), never returns       */
	ud2				/* cn__coro_entry switched away      */
	.cfi_endproc
	.size	cn__switch_trampoline, .-cn__switch_trampoline

	.section .note.GNU-stack,"",@progbits
