/*
 * sal.h - Microsoft source-code annotations, as empty macros.
 *
 * Miniport sources are annotated for Microsoft's analysis tools; here the
 * annotations only have to compile away.  Callback role declarations
 * (HW_STARTIO MyStartIo;) are real C declarations and need nothing.
 */
#ifndef USTOR_SAL_H
#define USTOR_SAL_H

#define _In_
#define _In_opt_
#define _Inout_
#define _Inout_opt_
#define _Out_
#define _Out_opt_
#define _In_z_
#define _In_opt_z_
#define _Outptr_
#define _Outptr_opt_
#define _Outptr_result_maybenull_
#define _Ret_maybenull_
#define _Ret_notnull_
#define _Return_type_success_(x)
#define _Success_(x)
#define _Must_inspect_result_
#define _Check_return_
#define _Use_decl_annotations_
#define _Analysis_assume_(x)
#define _At_(x, y)
#define _When_(x, y)
#define _In_reads_(x)
#define _In_reads_opt_(x)
#define _In_reads_bytes_(x)
#define _In_reads_bytes_opt_(x)
#define _Out_writes_(x)
#define _Out_writes_opt_(x)
#define _Out_writes_bytes_(x)
#define _Out_writes_bytes_opt_(x)
#define _Out_writes_bytes_all_(x)
#define _Out_writes_to_(x, y)
#define _Inout_updates_(x)
#define _Inout_updates_bytes_(x)
#define _Field_size_(x)
#define _Field_size_bytes_(x)
#define _Field_size_opt_(x)
#define _Field_size_bytes_opt_(x)
#define _Post_
#define _Pre_
#define _Post_satisfies_(x)
#define _Pre_satisfies_(x)
#define _Requires_lock_held_(x)
#define _Requires_lock_not_held_(x)
#define _Acquires_lock_(x)
#define _Releases_lock_(x)
#define _Guarded_by_(x)
#define _Interlocked_operand_
#define _Frees_ptr_
#define _Frees_ptr_opt_
#define _Post_invalid_
#define _Null_terminated_
#define _Notnull_
#define _Maybenull_
#define _Reserved_
#define _Strict_type_match_
#define _Literal_
#define _Const_
#define _Printf_format_string_
#define _Function_class_(x)
#define _IRQL_requires_(x)
#define _IRQL_requires_max_(x)
#define _IRQL_requires_min_(x)
#define _IRQL_requires_same_
#define _IRQL_raises_(x)
#define _IRQL_saves_
#define _IRQL_restores_
#define _IRQL_saves_global_(a, b)
#define _IRQL_restores_global_(a, b)
#define _IRQL_always_function_min_(x)
#define _IRQL_always_function_max_(x)
#define _IRQL_uses_cancel_
#define _IRQL_is_cancel_
#define _Kernel_float_saved_
#define _Kernel_float_restored_
#define _Kernel_requires_resource_held_(x)
#define _Kernel_acquires_resource_(x)
#define _Kernel_releases_resource_(x)
#define _Dispatch_type_(x)
#define __drv_aliasesMem
#define __drv_allocatesMem(x)
#define __drv_freesMem(x)
#define __drv_maxIRQL(x)
#define __drv_minIRQL(x)
#define __drv_requiresIRQL(x)
#define __drv_setsIRQL(x)
#define __drv_savesIRQL
#define __drv_restoresIRQL
#define __drv_savesIRQLGlobal(a, b)
#define __drv_restoresIRQLGlobal(a, b)
#define __drv_sameIRQL
#define __drv_raisesIRQL(x)
#define __drv_functionClass(x)
#define __drv_dispatchType(x)
#define __drv_inTry
#define __drv_when(x, y)
#define __drv_strictTypeMatch(x)
#define __drv_arg(x, y)
#define __drv_acquiresResource(x)
#define __drv_releasesResource(x)
#define __in
#define __out
#define __inout
#define __in_opt
#define __out_opt
#define __inout_opt
#define __in_bcount(x)
#define __out_bcount(x)
#define __in_ecount(x)
#define __out_ecount(x)
#define __deref_out
#define __checkReturn

#endif /* USTOR_SAL_H */
