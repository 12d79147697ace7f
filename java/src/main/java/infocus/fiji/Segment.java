package infocus.fiji;

import ij.ImagePlus;
import java.util.ArrayList;
import java.util.List;

/**
 * Plugins > infocus > Segment...: the in-focus masks (8-bit, 0/255) and, if
 * asked, the focus map, in-focus stack, depth map and all-in-focus image, as
 * {@code infocus segment}.
 */
public class Segment extends Command {
    /** Which products to make besides the mask. */
    public static final class Products {
        public boolean mask = true, map, inFocus, depth, allInFocus;
    }

    @Override
    String name() {
        return "Segment";
    }

    @Override
    ImagePlus[] runOn(ImagePlus imp) {
        Input in = Input.of(imp, 2);
        Method m = new Method();
        Products p = new Products();
        Form f = new Form("infocus: Segment");
        m.addTo(f, true);
        f.message("also show");
        f.checkbox("Focus_map", false);
        f.checkbox("In_focus", false);
        f.checkbox("Depth_map", false);
        f.checkbox("All_in_focus", false);
        if (!f.show(null)) return null;
        m.readFrom(f, true);
        p.map = f.nextBoolean();
        p.inFocus = f.nextBoolean();
        p.depth = f.nextBoolean();
        p.allInFocus = f.nextBoolean();
        return execute(in, m, p, new Bar("segment"));
    }

    /** The products asked for, in the order mask, map, in-focus, depth, all-in-focus; not shown. */
    public static ImagePlus[] execute(final Input in, final Method m, final Products p, final Native.Progress bar) {
        Object[] r = Native.call(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.segment(in.slices, in.pixelType, in.width, in.height, m.preset, m.measure, m.window,
                    m.strides, m.dof, m.minContrast, m.radius, m.smoothing, m.threshold, m.level, p.map,
                    p.inFocus, p.depth, p.allInFocus, bar);
            }
        });
        List<ImagePlus> out = new ArrayList<ImagePlus>();
        if (p.mask) out.add(Results.stack(in.name + "-mask", (Object[]) r[0], in, true));
        if (r[1] != null) out.add(Results.stack(in.name + "-focus-map", (Object[]) r[1], in, false));
        if (r[2] != null) out.add(Results.stack(in.name + "-in-focus", (Object[]) r[2], in, false));
        if (r[3] != null) out.add(Results.image(in.name + "-depth", r[3], in));
        if (r[4] != null) out.add(Results.image(in.name + "-all-in-focus", r[4], in));
        return out.toArray(new ImagePlus[0]);
    }
}
